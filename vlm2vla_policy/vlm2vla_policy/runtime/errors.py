"""Errors of the VLM runtime; each message says what was wrong and what to do."""

from __future__ import annotations


class PolicyRuntimeError(Exception):
    """Base class of every error this package raises on purpose."""


class RuntimeConfigError(PolicyRuntimeError, ValueError):
    """A runtime configuration value is invalid."""


class ModelLoadError(PolicyRuntimeError):
    """A model, processor or adapter could not be loaded."""


class AdapterMetadataError(ModelLoadError):
    """An adapter directory's metadata file is missing, malformed or of another format version."""


class ImageInputError(PolicyRuntimeError, ValueError):
    """An image is not a PIL image or an HxWx3 uint8 array, or an encoded image is unreadable."""


class OutputParseError(PolicyRuntimeError):
    """A stage's output did not parse after every allowed attempt.

    ``stage`` names the stage, ``attempts`` how many generations were tried, ``raw_text`` is the
    last output and ``cause`` the last parse error.
    """

    def __init__(self, stage: str, attempts: int, raw_text: str, cause: Exception) -> None:
        super().__init__(
            f"the {stage} output did not parse after {attempts} attempt(s): {cause}; last output "
            f"{raw_text[:200]!r}. Raise max_retries, enable constrained decoding, or check that "
            "the adapter was trained with this format"
        )
        self.stage = stage
        self.attempts = attempts
        self.raw_text = raw_text
        self.cause = cause


class RemoteBackendError(PolicyRuntimeError):
    """An OpenAI-compatible server could not be reached or answered with an error."""
