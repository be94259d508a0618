"""Configuration of ``fit``: one frozen dataclass whose defaults are the paper's training recipe.

The recipe (VLM2VLA, arXiv 2509.22195): LoRA r=16, alpha=32 on the q/k/v/o/gate/up/down
projections of the language model; AdamW (0.9, 0.999, 1e-8); learning rate 5e-5 with linear decay;
effective batch 8 (1 per GPU x 2 accumulation x 4 GPUs); sequences up to 1024 tokens; 1 epoch;
bf16. ``configs/paper.yaml`` spells the same values out; ``configs/debug.yaml`` is a tiny run.

A config file is YAML or JSON with the field names of :class:`TrainConfig` at the top level;
unknown keys are refused. Command-line overrides are ``key=value`` strings whose value is read as
YAML (``learning_rate=1e-4``, ``stages=[chunk,plan]``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vlm2vla_training.samples import ALL_STAGES

CONFIG_DIR_NAME = "configs"
"""Directory of the named configs, beside the Python package (installed to share/<package>)."""

LANGUAGE_MODEL_PROJECTIONS = (
    r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
)
"""peft ``target_modules`` regex: the paper's projections, inside the language model only.

The SigLIP vision tower has ``q_proj``/``k_proj``/``v_proj`` too; requiring ``language_model`` in
the module path keeps LoRA out of it (and out of the multimodal projector).
"""

ENCODINGS = ("text", "at")
FINETUNES = ("lora", "full")
PRECISIONS = ("auto", "bf16", "no")
WEIGHT_DTYPES = ("auto", "float32", "bfloat16")
LR_SCHEDULES = ("linear", "constant")
AT_RANKINGS = ("vocab_order", "model")

BOOKKEEPING_FIELDS = (
    "checkpoint_every_steps",
    "keep_checkpoints",
    "log_every_steps",
    "num_workers",
)
"""Fields that may change between a run and its resumption (they do not change the result)."""


class TrainConfigError(ValueError):
    """A training configuration is invalid; the message names the field and what to do."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``fit`` needs; the defaults are the paper's recipe."""

    # Base checkpoint: a local directory (Gemma-3 image-text model + processor) or a hub id.
    model: str = "google/gemma-3-12b-it"
    # Output directory of `vlm2vla-train build` (holds dataset/ and build_info.json).
    data: str = ""
    # Run directory: checkpoints, logs, the final adapter (or model) and metrics.
    out: str = ""
    # Stages whose samples are trained on (names of vlm2vla_policy.language.Stage).
    stages: tuple[str, ...] = ALL_STAGES
    # Numbers in action chunks: "text" (digits, the paper) or "at" (the VLM2VLA-AT ablation: the
    # tokenizer's least-likely tokens; chunk answers are rewritten with that table).
    encoding: str = "text"
    # How the AT table ranks tokens: "vocab_order" (last BPE merges first, OpenVLA-style) or
    # "model" (the base model's unigram log-probabilities).
    at_ranking: str = "vocab_order"
    # "lora": LoRA adapters on the language model (the paper); "full": train every weight of the
    # language model (the ablation; the final output is a whole model).
    finetune: str = "lora"
    # LoRA rank and scaling numerator (scale = alpha / r).
    lora_r: int = 16
    lora_alpha: int = 32
    # LoRA dropout; the paper does not report it, 0.05 is the common TRL/peft example value.
    lora_dropout: float = 0.05
    # peft target_modules regex; must match only modules inside the language model.
    lora_target_modules: str = LANGUAGE_MODEL_PROJECTIONS
    # AdamW learning rate (peak) and hyperparameters.
    learning_rate: float = 5e-5
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    # Decoupled weight decay; TRL's default (0.0), the paper reports none.
    weight_decay: float = 0.0
    # "linear": decay from the peak to 0 over the run (the paper); "constant".
    lr_schedule: str = "linear"
    # Optimizer steps of linear warm-up from 0 to the peak before the decay.
    warmup_steps: int = 0
    # Gradient clipping by global norm; TRL's default. 0 disables it.
    max_grad_norm: float = 1.0
    # Samples per optimizer step over all processes (the paper: 1 x 2 accumulation x 4 GPUs).
    effective_batch_size: int = 8
    # Samples per forward pass on one process; accumulation steps are
    # effective_batch_size / (per_device_batch_size x processes) and must come out whole.
    per_device_batch_size: int = 1
    # Longest sequence, tokens (prompt with image tokens + answer); longer answers are cut.
    max_seq_len: int = 1024
    # Passes over the training split.
    epochs: int = 1
    # Stop after this many optimizer steps (0: run every epoch to the end).
    max_steps: int = 0
    # "auto": bf16 on CUDA devices that compute it natively, else fp32 (on CPUs bf16 measured
    # slower than fp32, see resolve_precision); "bf16"; "no" (fp32).
    mixed_precision: str = "auto"
    # Dtype of the loaded weights. "auto": bfloat16 for frozen LoRA base weights under bf16
    # (halves memory; the adapters stay fp32), float32 otherwise (full fine-tuning keeps fp32
    # master weights).
    weights_dtype: str = "auto"
    # Recompute activations in the backward pass (less memory, about 30 % more compute).
    gradient_checkpointing: bool = False
    # Seed of the LoRA initialisation, the sample order and dropout.
    seed: int = 0
    # Save a resumable checkpoint every this many optimizer steps (0: never).
    checkpoint_every_steps: int = 500
    # Checkpoints kept on disk (older ones are deleted).
    keep_checkpoints: int = 2
    # Write a log record (JSONL + tensorboard) every this many optimizer steps.
    log_every_steps: int = 1
    # Data-loader worker processes (image decoding and tokenisation); 0 loads in the main process.
    num_workers: int = 0
    # Train on the CPU even when a GPU is present.
    cpu: bool = False

    def __post_init__(self) -> None:
        choices = {
            "encoding": ENCODINGS,
            "finetune": FINETUNES,
            "mixed_precision": PRECISIONS,
            "weights_dtype": WEIGHT_DTYPES,
            "lr_schedule": LR_SCHEDULES,
            "at_ranking": AT_RANKINGS,
        }
        for name, allowed in choices.items():
            _require(getattr(self, name) in allowed, f"{name} must be one of {allowed}")
        unknown = sorted(set(self.stages) - set(ALL_STAGES))
        _require(bool(self.stages) and not unknown, f"stages must be a subset of {ALL_STAGES}")
        positive = ("lora_r", "effective_batch_size", "per_device_batch_size", "max_seq_len")
        for name in (*positive, "epochs"):
            _require(getattr(self, name) >= 1, f"{name} must be >= 1")
        for name in ("max_steps", "warmup_steps", "checkpoint_every_steps", "num_workers"):
            _require(getattr(self, name) >= 0, f"{name} must be >= 0")
        _require(self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1")
        _require(self.log_every_steps >= 1, "log_every_steps must be >= 1")
        _require(self.learning_rate > 0, "learning_rate must be > 0")
        _require(0.0 <= self.lora_dropout < 1.0, "lora_dropout must be in [0, 1)")
        _require(self.max_grad_norm >= 0, "max_grad_norm must be >= 0 (0 disables clipping)")
        _require(
            self.effective_batch_size % self.per_device_batch_size == 0,
            "effective_batch_size must be a multiple of per_device_batch_size",
        )

    def grad_accum_steps(self, num_processes: int) -> int:
        """Micro-batches per optimizer step on each of ``num_processes`` processes."""
        per_round = self.per_device_batch_size * num_processes
        if self.effective_batch_size % per_round:
            raise TrainConfigError(
                f"effective_batch_size {self.effective_batch_size} is not a multiple of "
                f"per_device_batch_size {self.per_device_batch_size} x {num_processes} "
                "processes; change one of them"
            )
        return self.effective_batch_size // per_round

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples as lists)."""
        data = dataclasses.asdict(self)
        data["stages"] = list(self.stages)
        return data

    def identity(self) -> dict[str, Any]:
        """The fields that decide the result; a resumed run must match them."""
        data = self.to_dict()
        for name in BOOKKEEPING_FIELDS:
            data.pop(name)
        return data


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise TrainConfigError(f"TrainConfig: {message}")


def config_dirs() -> list[Path]:
    """Where named configs are looked up: the source tree, then the installed share directory."""
    source = Path(__file__).resolve().parents[2] / CONFIG_DIR_NAME
    installed = Path(sys.prefix) / "share" / "vlm2vla_training" / CONFIG_DIR_NAME
    return [source, installed]


def find_config(name_or_path: str) -> Path:
    """The file a config name (``paper``, ``debug``) or path refers to."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    for directory in config_dirs():
        for suffix in (".yaml", ".yml", ".json"):
            candidate = directory / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
    searched = ", ".join(str(d) for d in config_dirs())
    raise FileNotFoundError(
        f"no training config {name_or_path!r}: pass a YAML/JSON file, or a name of a file in "
        f"{searched} (e.g. 'paper' or 'debug')"
    )


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict; each value is read as YAML (numbers, lists, booleans)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TrainConfigError(f"override {item!r} must look like key=value")
        overrides[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return overrides


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a flat dict; unknown keys and wrong types are refused."""
    if not isinstance(data, dict):
        raise TrainConfigError(f"a training config must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(TrainConfig)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrainConfigError(f"unknown TrainConfig keys {unknown}; known: {sorted(known)}")
    return TrainConfig(**{name: _coerce(name, value, hints[name]) for name, value in data.items()})


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Accept ints for floats and lists for tuples (as YAML writes them); refuse the rest."""
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    if origin in (typing.Union, types.UnionType):
        hint = next(h for h in typing.get_args(hint) if h is not type(None))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:  # YAML 1.1 reads "2e-3" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if hint is int and isinstance(value, bool):
        raise TrainConfigError(f"{name} must be an integer, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise TrainConfigError(f"{name} must be {hint.__name__}, got {value!r}")
    return value


def load_train_config(
    name_or_path: str | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """A config from a named/file config (None: the dataclass defaults) plus ``overrides``."""
    data: dict[str, Any] = {}
    if name_or_path:
        path = find_config(name_or_path)
        text = path.read_text(encoding="utf-8")
        loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        data.update(loaded or {})
    data.update(overrides or {})
    return config_from_dict(data)
