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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vlm2vla_policy.language import ChunkFormat
from vlm2vla_policy.runtime.config import ModelConfig
from vlm2vla_policy.settings import from_dict, like, nonempty, require, setting, validate
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

    model: str = like(
        ModelConfig,
        "model",
        "base checkpoint: a local directory (Gemma-3 image-text model + processor) or a hub id",
    )
    data: str = setting("", "output directory of `vlm2vla-train build` (dataset/, build_info)")
    out: str = setting("", "run directory: checkpoints, logs, the final adapter (or model)")
    stages: tuple[str, ...] = setting(
        ALL_STAGES, "stages whose samples are trained on", choices=ALL_STAGES, check=nonempty
    )
    encoding: str = like(
        ChunkFormat,
        "encoding",
        "numbers in action chunks: text (digits, the paper) or at (the VLM2VLA-AT ablation: "
        "the tokenizer's least-likely tokens; chunk answers are rewritten with that table)",
    )
    at_ranking: str = setting(
        "vocab_order",
        "how the AT table ranks tokens: vocab_order (last BPE merges first, OpenVLA-style) or "
        "model (the base model's unigram log-probabilities)",
        choices=AT_RANKINGS,
    )
    finetune: str = setting(
        "lora",
        "lora: LoRA adapters on the language model (the paper); full: train every weight of the "
        "language model (the ablation; the output is a whole model)",
        choices=FINETUNES,
    )
    lora_r: int = setting(16, "LoRA rank", low=1)
    lora_alpha: int = setting(32, "LoRA scaling numerator (scale = alpha / r)", low=1)
    # The paper does not report it; 0.05 is the common TRL/peft example value.
    lora_dropout: float = setting(0.05, "LoRA dropout", low=0.0, below=1.0)
    lora_target_modules: str = setting(
        LANGUAGE_MODEL_PROJECTIONS,
        "peft target_modules regex; must match only modules inside the language model",
        check=nonempty,
    )
    learning_rate: float = setting(5e-5, "AdamW peak learning rate", above=0.0)
    adam_beta1: float = setting(0.9, "AdamW beta1", low=0.0, below=1.0)
    adam_beta2: float = setting(0.999, "AdamW beta2", low=0.0, below=1.0)
    adam_eps: float = setting(1e-8, "AdamW epsilon", above=0.0)
    weight_decay: float = setting(
        0.0, "decoupled weight decay (TRL's default; the paper reports none)", low=0.0
    )
    lr_schedule: str = setting(
        "linear",
        "linear: decay from the peak to 0 over the run (the paper); constant",
        choices=LR_SCHEDULES,
    )
    warmup_steps: int = setting(
        0, "optimizer steps of linear warm-up from 0 to the peak before the decay", low=0
    )
    max_grad_norm: float = setting(
        1.0, "gradient clipping by global norm (TRL's default); 0 disables it", low=0.0
    )
    effective_batch_size: int = setting(
        8, "samples per optimizer step over all processes (the paper: 1 x 2 x 4 GPUs)", low=1
    )
    per_device_batch_size: int = setting(
        1,
        "samples per forward pass on one process; effective_batch_size / (this x processes) "
        "accumulation steps must come out whole",
        low=1,
    )
    max_seq_len: int = setting(
        1024,
        "longest sequence (prompt with image tokens + answer); longer answers are cut",
        unit="tokens",
        low=1,
    )
    epochs: int = setting(1, "passes over the training split", low=1)
    max_steps: int = setting(
        0, "stop after this many optimizer steps (0: run every epoch to the end)", low=0
    )
    # On CPUs bf16 measured slower than fp32, see resolve_precision.
    mixed_precision: str = setting(
        "auto",
        "auto: bf16 on CUDA devices that compute it natively, else fp32; bf16; no (fp32)",
        choices=PRECISIONS,
    )
    weights_dtype: str = setting(
        "auto",
        "dtype of the loaded weights; auto: bfloat16 for frozen LoRA base weights under bf16 "
        "(the adapters stay fp32), float32 otherwise (full fine-tuning keeps fp32 masters)",
        choices=WEIGHT_DTYPES,
    )
    gradient_checkpointing: bool = setting(
        False, "recompute activations in the backward pass (less memory, ~30 % more compute)"
    )
    seed: int = setting(0, "seed of the LoRA initialisation, the sample order and dropout")
    checkpoint_every_steps: int = setting(
        500, "save a resumable checkpoint every this many optimizer steps (0: never)", low=0
    )
    keep_checkpoints: int = setting(2, "checkpoints kept on disk (older ones are deleted)", low=1)
    log_every_steps: int = setting(
        1, "write a log record (JSONL + tensorboard) every this many optimizer steps", low=1
    )
    num_workers: int = setting(
        0,
        "data-loader worker processes (image decoding, tokenisation); 0: the main process",
        low=0,
    )
    cpu: bool = setting(False, "train on the CPU even when a GPU is present")

    def __post_init__(self) -> None:
        validate(self, TrainConfigError)
        require(
            self.effective_batch_size % self.per_device_batch_size == 0,
            "TrainConfig: effective_batch_size must be a multiple of per_device_batch_size",
            TrainConfigError,
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


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a flat dict; unknown keys and wrong types are refused.

    :func:`~vlm2vla_policy.settings.from_dict`: lists become tuples, ints and YAML's "2e-3"
    strings floats; errors are :class:`TrainConfigError` naming the key.
    """
    return from_dict(TrainConfig, data, TrainConfigError)


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
