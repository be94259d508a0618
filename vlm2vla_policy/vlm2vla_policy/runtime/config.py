"""Configuration of the VLM runtime: frozen dataclasses, defaults as in the VLM2VLA paper.

Each field is a :func:`~vlm2vla_policy.settings.setting` (default, description, unit, check), the
one place policy_node's parameters and ``vlm2vla-serve``'s options are derived from. Every config
round-trips through a plain dict (:func:`config_from_dict`), so a ROS parameter file or a
JSON/YAML file can hold it. Times are in seconds, sizes in bytes unless a name says otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from vlm2vla_policy.runtime.errors import RuntimeConfigError
from vlm2vla_policy.settings import from_dict, nonempty, require, section, setting, validate

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


def _http_url(value: str) -> str | None:
    return None if value.startswith(("http://", "https://")) else "must start with http(s)://"


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling of one stage's generation."""

    temperature: float = setting(
        0.5, "softmax temperature (0 = greedy decoding)", low=0.0, high=2.0
    )
    top_p: float = setting(
        0.95,
        "nucleus sampling: keep the smallest set of tokens whose probability sums to this",
        above=0.0,
        high=1.0,
    )
    max_new_tokens: int = setting(
        128, "most tokens the model may write for this stage", unit="tokens", low=1
    )

    def __post_init__(self) -> None:
        validate(self, RuntimeConfigError)


@dataclass(frozen=True)
class StageSampling:
    """Sampling of each stage; defaults from the paper (top-p 0.95).

    Token caps are upper bounds (generation stops at the end of the answer) sized for the longest
    valid answer in a byte-level tokenizer; Gemma's splits numbers into single digits, so a
    20-step chunk is about 400 tokens there too.
    """

    subtasks: SamplingConfig = section(
        lambda: SamplingConfig(temperature=0.5, max_new_tokens=160),
        "subtask list sampling (the paper: 0.5 in distribution, 1.0 out of distribution)",
        qualifies=True,
    )
    plan: SamplingConfig = section(
        lambda: SamplingConfig(temperature=0.1, max_new_tokens=96),
        "motion plan sampling (the paper: 0.1)",
        qualifies=True,
    )
    chunk: SamplingConfig = section(
        lambda: SamplingConfig(temperature=0.5, max_new_tokens=640),
        "action chunk sampling (the paper: 0.5)",
        qualifies=True,
    )
    verify: SamplingConfig = section(
        lambda: SamplingConfig(temperature=0.0, max_new_tokens=32),
        "verification sampling: greedy, yes/no with an optional short reason",
        qualifies=True,
    )

    def __post_init__(self) -> None:
        validate(self, RuntimeConfigError)

    def for_stage(self, stage: str) -> SamplingConfig:
        """The sampling of ``stage`` (one of :data:`STAGES`)."""
        require(stage in STAGES, f"unknown stage {stage!r}; known: {STAGES}", RuntimeConfigError)
        return getattr(self, stage)


@dataclass(frozen=True)
class ModelConfig:
    """Which checkpoint and adapter to load and how."""

    model: str = setting(
        "google/gemma-3-12b-it",
        "Gemma-3 image-text checkpoint: a local directory or a Hugging Face id (local cache)",
        check=nonempty,
    )
    adapter: str = setting(
        "", "LoRA adapter directory written by `vlm2vla-train fit`; empty = the base model alone"
    )
    merge_adapter: bool = setting(
        False,
        "merge the LoRA into the base weights after loading (faster; not with the onboard "
        "verifier, which disables the adapter)",
    )
    dtype: str = setting(
        "auto", "weight dtype; auto = bfloat16 on CUDA, float32 on CPU", choices=DTYPES
    )
    device: str = setting("auto", "torch device: auto (CUDA when present), cuda, cuda:1, cpu")
    quantization: str = setting(
        "none", "bitsandbytes weight quantization (CUDA only)", choices=QUANTIZATIONS
    )
    allow_download: bool = setting(
        False,
        "allow downloads from the Hugging Face hub (false: the local cache or directory only; "
        "HF_HUB_OFFLINE=1 forbids them whatever this says)",
    )
    revision: str = setting(
        "", "hub revision (branch, tag or commit) of the model; empty = the default branch"
    )
    cpu_threads: int = setting(
        0,
        "CPU threads torch may use, process-wide; 0 = one per core (lower it to leave cores "
        "to other processes, e.g. a simulator)",
        low=0,
        high=1024,
    )

    def __post_init__(self) -> None:
        validate(self, RuntimeConfigError)


@dataclass(frozen=True)
class RemoteConfig:
    """An OpenAI-compatible chat server (vLLM, ``vlm2vla-serve``, a cloud API)."""

    base_url: str = setting(
        "http://127.0.0.1:8000/v1", "base URL of the server, up to and including /v1",
        check=_http_url,
    )  # fmt: skip
    model: str = setting(
        "vlm2vla", "model name the server knows (vLLM with LoRA: the adapter's served name)"
    )
    base_model: str = setting(
        "",
        "served name of the base model without the adapter (vLLM lists it beside each LoRA), "
        "for onboard verification over this server; empty = none",
    )
    api_key_env: str = setting(
        "VLM2VLA_API_KEY", "environment variable holding the bearer token; unset = no token"
    )
    timeout_s: float = setting(120.0, "longest wait for one response", unit="s", above=0.0)
    guided_decoding: str = setting(
        "structured_outputs",
        "how a request asks the server to constrain its output",
        choices=GUIDED_DECODING,
    )
    image_format: str = setting(
        "png", "image encoding inside the data URL: png (lossless), jpeg (smaller)",
        choices=("png", "jpeg"),
    )  # fmt: skip
    adapter: str = setting(
        "",
        "local copy of the served adapter's directory: its vlm2vla_adapter.json (and "
        "at_table.json) give the text format; empty = the default format",
    )

    def __post_init__(self) -> None:
        validate(self, RuntimeConfigError)


@dataclass(frozen=True)
class VerifierConfig:
    """Who answers "was the subtask completed?"."""

    # "adapter" is needed where the base cannot answer, e.g. the demo's random tiny base; the
    # paper used Gemini as a remote verifier.
    kind: str = setting(
        "onboard",
        "onboard: the base model with the adapter disabled; adapter: the fine-tuned model "
        "(adapter trained on verification); remote: an external chat endpoint",
        choices=VERIFIERS,
    )
    remote: RemoteConfig = section(
        lambda: RemoteConfig(base_url="http://127.0.0.1:8001/v1", model="verifier"),
        "the remote verifier (kind remote)",
        qualifies=True,
    )

    def __post_init__(self) -> None:
        validate(self, RuntimeConfigError)


@dataclass(frozen=True)
class PolicyConfig:
    """Everything a :class:`~vlm2vla_policy.runtime.policy.Policy` needs."""

    backend: str = setting(
        "hf", "hf: the model in this process; remote: an OpenAI-compatible server",
        choices=BACKENDS,
    )  # fmt: skip
    model: ModelConfig = section(ModelConfig, "hf backend: the checkpoint and how it is loaded")
    remote: RemoteConfig = section(
        RemoteConfig, "remote backend: the OpenAI-compatible server", qualifies=True
    )
    sampling: StageSampling = section(StageSampling, "sampling per stage")
    verifier: VerifierConfig = section(VerifierConfig, "who verifies a subtask")
    constrained: bool = setting(
        True, "constrain every stage's output to its grammar (where the backend can; hf always)"
    )
    # Each attempt counts in the stage result's ``retries``; the paper retried about 10 % of
    # cycles.
    max_retries: int = setting(2, "extra generations when an output does not parse", low=0, high=10)
    prefix_reuse: bool = setting(
        True, "reuse the KV cache of the shared token prefix (image first) between stages (hf)"
    )
    prefix_capacity: int = setting(
        8,
        "prompts whose prefix KV cache is kept, least recently used dropped first: one per robot "
        "a server serves (hf)",
        low=1,
        high=256,
    )
    jump_forward: bool = setting(
        True,
        "feed the tokens a grammar forces (brackets, commas, the decimal point) in one forward "
        "pass with the token before them, without sampling them (hf, constrained)",
    )
    seed: int | None = setting(None, "sampler seed; none draws a fresh one per process")

    def __post_init__(self) -> None:
        validate(self, RuntimeConfigError)
        require(
            not (
                self.backend == "hf"
                and self.model.merge_adapter
                and self.model.adapter
                and self.verifier.kind == "onboard"
            ),
            "merge_adapter=True cannot be combined with the onboard verifier (it disables the "
            "adapter); set merge_adapter=False or verifier.kind='remote'",
            RuntimeConfigError,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/YAML-ready)."""
        return dataclasses.asdict(self)


def config_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build the frozen config ``cls`` from a nested dict; missing fields take defaults.

    :func:`~vlm2vla_policy.settings.from_dict` raising :class:`RuntimeConfigError`: unknown keys
    are reported with the known ones, so a typo in a parameter file is not silently ignored.
    """
    return from_dict(cls, data, RuntimeConfigError)
