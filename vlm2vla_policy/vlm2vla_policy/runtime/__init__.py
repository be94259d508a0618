"""The VLM runtime: Gemma-3 + LoRA loading, staged generation, verification and backends.

No ROS here. The public API:

* :func:`make_policy` (from a :class:`PolicyConfig`) -> :class:`Policy` with ``subtasks``,
  ``plan``, ``chunk``, ``verify``, ``reset``, ``stats``; each stage returns a
  :class:`StageResult` (parsed value, raw text, :class:`Timing`, attempts);
* :func:`load_model` / :class:`LoadedModel`, :class:`HFBackend`, :class:`RemoteBackend`;
* :func:`write_adapter_metadata` / :func:`read_adapter_metadata` (``vlm2vla_adapter.json``);
* ``vlm2vla-serve`` (:mod:`vlm2vla_policy.serving.cli`): an OpenAI-compatible server.

torch and transformers are imported when a model is loaded, not on import of this package's
configuration and metadata helpers.
"""

from vlm2vla_policy.runtime.adapter_metadata import (
    ADAPTER_METADATA_FILE,
    AT_TABLE_FILE,
    AdapterMetadata,
    read_adapter_metadata,
    write_adapter_metadata,
)
from vlm2vla_policy.runtime.config import (
    ModelConfig,
    PolicyConfig,
    RemoteConfig,
    SamplingConfig,
    StageSampling,
    VerifierConfig,
    config_from_dict,
)
from vlm2vla_policy.runtime.errors import (
    AdapterMetadataError,
    ImageInputError,
    ModelLoadError,
    OutputParseError,
    PolicyRuntimeError,
    PromptError,
    RemoteBackendError,
    RuntimeConfigError,
)
from vlm2vla_policy.runtime.timing import Timing

_LAZY = {
    "HFBackend": "vlm2vla_policy.runtime.backends.hf",
    "RemoteBackend": "vlm2vla_policy.runtime.backends.remote",
    "GenerationRequest": "vlm2vla_policy.runtime.backends.base",
    "Completion": "vlm2vla_policy.runtime.backends.base",
    "LoadedModel": "vlm2vla_policy.runtime.loading",
    "load_model": "vlm2vla_policy.runtime.loading",
    "Policy": "vlm2vla_policy.runtime.policy",
    "make_policy": "vlm2vla_policy.runtime.factory",
    "make_verifier": "vlm2vla_policy.runtime.factory",
    "StageResult": "vlm2vla_policy.runtime.stage_runner",
    "StageStats": "vlm2vla_policy.runtime.stage_runner",
    "Verifier": "vlm2vla_policy.runtime.verifier",
    "ChatPrompt": "vlm2vla_policy.runtime.chat",
}


def __getattr__(name: str) -> object:
    """Import the torch-dependent parts on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vlm2vla_policy.runtime' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "ADAPTER_METADATA_FILE",
    "AT_TABLE_FILE",
    "AdapterMetadata",
    "AdapterMetadataError",
    "ChatPrompt",
    "Completion",
    "GenerationRequest",
    "HFBackend",
    "ImageInputError",
    "LoadedModel",
    "ModelConfig",
    "ModelLoadError",
    "OutputParseError",
    "Policy",
    "PolicyConfig",
    "PolicyRuntimeError",
    "PromptError",
    "RemoteBackend",
    "RemoteBackendError",
    "RemoteConfig",
    "RuntimeConfigError",
    "SamplingConfig",
    "StageResult",
    "StageSampling",
    "StageStats",
    "Timing",
    "Verifier",
    "VerifierConfig",
    "config_from_dict",
    "load_model",
    "make_policy",
    "make_verifier",
    "read_adapter_metadata",
    "write_adapter_metadata",
]
