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


class PromptError(PolicyRuntimeError, ValueError):
    """A prompt the model cannot take.

    Its chat template refuses the messages (e.g. roles that do not alternate), or the prompt and
    the token budget exceed the model's context.
    """


class OutputParseError(PolicyRuntimeError):
    """A stage's output did not parse after every allowed attempt.

    ``stage`` names the stage, ``attempts`` how many generations were tried, ``raw_text`` is the
    last output and ``cause`` the last parse error. ``constrained``: decoding was asked to follow
    the grammar; ``ignored``: the request field a server ignored (see ``Completion.ignored``). The
    advice follows from these.
    """

    def __init__(
        self,
        stage: str,
        attempts: int,
        raw_text: str,
        cause: Exception,
        *,
        constrained: bool = False,
        ignored: str = "",
    ) -> None:
        if ignored:
            advice = (
                f"the server ignored {ignored} (its answer is outside the grammar it was sent): "
                "serve with one that honours it, set remote.guided_decoding to the parameter "
                "it supports, or raise max_retries"
            )
        elif constrained:
            advice = (
                "raise max_retries or the stage's max_new_tokens, or check that the adapter was "
                "trained with this format"
            )
        else:
            advice = (
                "raise max_retries, enable constrained decoding, or check that the adapter was "
                "trained with this format"
            )
        super().__init__(
            f"the {stage} output did not parse after {attempts} attempt(s): {cause}; last output "
            f"{raw_text[:200]!r}; {advice}"
        )
        self.stage = stage
        self.attempts = attempts
        self.raw_text = raw_text
        self.cause = cause


class RemoteBackendError(PolicyRuntimeError):
    """An OpenAI-compatible server could not be reached or answered with an error."""
