"""Configuration of the VLM runtime: frozen dataclasses, defaults as in the VLM2VLA paper.

Every config round-trips through a plain dict (:func:`config_from_dict`), so a ROS parameter file
or a JSON/YAML file can hold it. Times are in seconds, sizes in bytes unless a name says otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vlm2vla_policy.runtime.errors import RuntimeConfigError

STAGES: tuple[str, ...] = ("subtasks", "plan", "chunk", "verify")
"""The policy's stages, in the order of one episode."""

BACKENDS: tuple[str, ...] = ("hf", "remote")
"""Generation backends: in-process Hugging Face model, or an OpenAI-compatible chat server."""

VERIFIERS: tuple[str, ...] = ("onboard", "adapter", "remote")
"""Verifiers: the base model with the adapter disabled, the fine-tuned model itself (its adapter
trained on verification samples), or an external chat endpoint."""

DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
"""Weight dtypes; ``auto`` is bfloat16 on CUDA, float32 on CPU."""

QUANTIZATIONS: tuple[str, ...] = ("none", "4bit", "8bit")
"""Weight quantization through bitsandbytes (CUDA only)."""

GUIDED_DECODING: tuple[str, ...] = ("structured_outputs", "guided_regex", "none")
"""How a remote request asks the server to constrain its output.

``structured_outputs`` sends ``{"structured_outputs": {"regex": ...}}`` (vLLM >= 0.10.2 and
``vlm2vla-serve``), ``guided_regex`` sends ``{"guided_regex": ...}`` (older vLLM), ``none`` sends
nothing and relies on the bounded retry.
"""

T = TypeVar("T")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeConfigError(message)


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling of one stage's generation."""

    # Softmax temperature; 0 means greedy decoding.
    temperature: float = 0.5
    # Nucleus sampling: keep the smallest set of tokens whose probability sums to at least this.
    top_p: float = 0.95
    # Most tokens the model may write for this stage.
    max_new_tokens: int = 128

    def __post_init__(self) -> None:
        _require(
            math.isfinite(self.temperature) and self.temperature >= 0,
            f"temperature must be a finite number >= 0, got {self.temperature!r}",
        )
        _require(0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p!r}")
        _require(
            isinstance(self.max_new_tokens, int) and self.max_new_tokens >= 1,
            f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}",
        )


@dataclass(frozen=True)
class StageSampling:
    """Sampling of each stage; defaults from the paper (top-p 0.95)."""

    # Subtask list: temperature 0.5 in distribution (the paper uses 1.0 out of distribution).
    subtasks: SamplingConfig = field(
        default_factory=lambda: SamplingConfig(temperature=0.5, max_new_tokens=160)
    )
    # Motion plan: temperature 0.1. Token caps are upper bounds (generation stops at the end of
    # the answer) sized for the longest valid answer in a byte-level tokenizer; Gemma's splits
    # numbers into single digits, so a 20-step chunk is about 400 tokens there too.
    plan: SamplingConfig = field(
        default_factory=lambda: SamplingConfig(temperature=0.1, max_new_tokens=96)
    )
    # Action chunk: temperature 0.5.
    chunk: SamplingConfig = field(
        default_factory=lambda: SamplingConfig(temperature=0.5, max_new_tokens=640)
    )
    # Verification: greedy; the answer is "yes"/"no" with an optional short reason.
    verify: SamplingConfig = field(
        default_factory=lambda: SamplingConfig(temperature=0.0, max_new_tokens=32)
    )

    def for_stage(self, stage: str) -> SamplingConfig:
        """The sampling of ``stage`` (one of :data:`STAGES`)."""
        _require(stage in STAGES, f"unknown stage {stage!r}; known: {STAGES}")
        return getattr(self, stage)


@dataclass(frozen=True)
class ModelConfig:
    """Which checkpoint and adapter to load and how."""

    # Hugging Face model id (e.g. "google/gemma-3-12b-it") or a local directory.
    model: str = "google/gemma-3-12b-it"
    # LoRA adapter directory (written by training), or "" for the base model alone.
    adapter: str = ""
    # Merge the LoRA weights into the base weights after loading (faster decoding; on-board
    # verification then cannot disable the adapter, so it is refused with verifier "onboard").
    merge_adapter: bool = False
    # Weight dtype, one of DTYPES; "auto" is bfloat16 on CUDA and float32 on CPU.
    dtype: str = "auto"
    # Torch device ("cuda", "cuda:1", "cpu") or "auto" (CUDA when present).
    device: str = "auto"
    # Weight quantization, one of QUANTIZATIONS; needs CUDA and the bitsandbytes package.
    quantization: str = "none"
    # Allow downloads from the Hugging Face hub; False (default) loads from the local cache or
    # directory only. HF_HUB_OFFLINE=1 in the environment forbids downloads whatever this says.
    allow_download: bool = False
    # Hub revision (branch, tag or commit) of the model; "" for the default branch.
    revision: str = ""
    # CPU threads torch may use (torch.set_num_threads, process-wide); 0 keeps torch's default
    # (one per core). Lower it to leave cores to other processes, e.g. a simulator.
    cpu_threads: int = 0

    def __post_init__(self) -> None:
        _require(bool(self.model), "model must name a Hugging Face id or a local directory")
        _require(self.cpu_threads >= 0, f"cpu_threads must be >= 0, got {self.cpu_threads}")
        _require(self.dtype in DTYPES, f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        _require(
            self.quantization in QUANTIZATIONS,
            f"quantization must be one of {QUANTIZATIONS}, got {self.quantization!r}",
        )


@dataclass(frozen=True)
class RemoteConfig:
    """An OpenAI-compatible chat server (vLLM, ``vlm2vla-serve``, a cloud API)."""

    # Base URL up to and including "/v1", e.g. "http://127.0.0.1:8000/v1".
    base_url: str = "http://127.0.0.1:8000/v1"
    # Model name the server knows (for vLLM with LoRA: the adapter's served name).
    model: str = "vlm2vla"
    # Served name of the base model without the adapter (vLLM lists it beside each LoRA), for
    # on-board verification over this server; "" when the server offers none.
    base_model: str = ""
    # Environment variable that holds the bearer token; unset or empty sends no token.
    api_key_env: str = "VLM2VLA_API_KEY"
    # Seconds to wait for one response.
    timeout_s: float = 120.0
    # How to ask the server to constrain the output, one of GUIDED_DECODING.
    guided_decoding: str = "structured_outputs"
    # Image encoding inside the data URL: "png" (lossless) or "jpeg" (smaller).
    image_format: str = "png"
    # Local copy of the served adapter's directory: its vlm2vla_adapter.json (and at_table.json)
    # give the text format and are version-checked; "" assumes the default format.
    adapter: str = ""

    def __post_init__(self) -> None:
        _require(
            self.base_url.startswith(("http://", "https://")),
            f"base_url must start with http:// or https://, got {self.base_url!r}",
        )
        _require(self.timeout_s > 0, f"timeout_s must be positive, got {self.timeout_s!r}")
        _require(
            self.guided_decoding in GUIDED_DECODING,
            f"guided_decoding must be one of {GUIDED_DECODING}, got {self.guided_decoding!r}",
        )
        _require(
            self.image_format in ("png", "jpeg"),
            f"image_format must be 'png' or 'jpeg', got {self.image_format!r}",
        )


@dataclass(frozen=True)
class VerifierConfig:
    """Who answers "was the subtask completed?"."""

    # "onboard": the policy's own base model with the LoRA adapter disabled (no cloud service);
    # "adapter": the policy's own model with its adapter on, for adapters trained on the
    # verification stage (needed when the base cannot answer, e.g. the demo's random tiny base);
    # "remote": an external model over an OpenAI-compatible chat endpoint (the paper used Gemini).
    kind: str = "onboard"
    # The external endpoint; used only when kind is "remote".
    remote: RemoteConfig = field(default_factory=RemoteConfig)

    def __post_init__(self) -> None:
        _require(self.kind in VERIFIERS, f"verifier kind must be one of {VERIFIERS}")


@dataclass(frozen=True)
class PolicyConfig:
    """Everything a :class:`~vlm2vla_policy.runtime.policy.Policy` needs."""

    # "hf" runs the model in this process; "remote" asks an OpenAI-compatible server.
    backend: str = "hf"
    # The checkpoint for the "hf" backend.
    model: ModelConfig = field(default_factory=ModelConfig)
    # The server for the "remote" backend.
    remote: RemoteConfig = field(default_factory=RemoteConfig)
    # Sampling per stage.
    sampling: StageSampling = field(default_factory=StageSampling)
    # Verification.
    verifier: VerifierConfig = field(default_factory=VerifierConfig)
    # Constrain every stage's output to its grammar where the backend can (always for "hf").
    constrained: bool = True
    # Extra attempts when an output does not parse (bounded; the paper retried about 10 % of
    # cycles). Each attempt counts in the stage result's ``retries``.
    max_retries: int = 2
    # Reuse the KV cache of the shared token prefix (image first) between stages ("hf" only).
    prefix_reuse: bool = True
    # Seed of the sampler; None draws a fresh seed per process.
    seed: int | None = None

    def __post_init__(self) -> None:
        _require(self.backend in BACKENDS, f"backend must be one of {BACKENDS}")
        _require(
            isinstance(self.max_retries, int) and 0 <= self.max_retries <= 10,
            f"max_retries must be an integer in [0, 10], got {self.max_retries!r}",
        )
        _require(
            not (
                self.backend == "hf"
                and self.model.merge_adapter
                and self.model.adapter
                and self.verifier.kind == "onboard"
            ),
            "merge_adapter=True cannot be combined with the onboard verifier (it disables the "
            "adapter); set merge_adapter=False or verifier.kind='remote'",
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/YAML-ready)."""
        return dataclasses.asdict(self)


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build the frozen config ``cls`` from a nested dict; missing fields take defaults.

    Unknown keys raise :class:`RuntimeConfigError` naming the known ones, so a typo in a parameter
    file is reported instead of silently ignored.
    """
    if not isinstance(data, dict):
        raise RuntimeConfigError(f"{cls.__name__} needs a dict, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - fields)
    _require(not unknown, f"unknown {cls.__name__} keys {unknown}; known: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            kwargs[name] = config_from_dict(hint, value)
        else:
            kwargs[name] = _coerce(value, hint, f"{cls.__name__}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise RuntimeConfigError(f"{cls.__name__}: {exc}") from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Accept ints for floats (YAML writes 1 for 1.0); refuse other type mismatches."""
    origin = typing.get_origin(hint)
    allowed = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if any(isinstance(value, t) and not (t is int and isinstance(value, bool)) for t in allowed):
        return value
    names = [getattr(t, "__name__", str(t)) for t in allowed]
    raise RuntimeConfigError(f"{where} must be {' or '.join(names)}, got {value!r}")
