"""Supervised fine-tuning (``vlm2vla-train fit``): LoRA on Gemma-3's language model, as the paper.

:func:`~vlm2vla_training.fit.run.fit` trains from a
:class:`~vlm2vla_training.fit.config.TrainConfig`
(:func:`~vlm2vla_training.fit.config.load_train_config` reads ``configs/paper.yaml`` or
``configs/debug.yaml`` by name, or any YAML/JSON file). Modules: ``config`` (the frozen config),
``data`` (the built dataset), ``chat_samples`` (rows -> tokens with answer-only labels),
``model_setup`` (loading and freezing), ``sample_order`` (the deterministic, resumable order),
``checkpoint`` (resumable state), ``train_log`` (JSONL + tensorboard), ``run`` (the loop).
"""

from vlm2vla_training.fit.config import (
    LANGUAGE_MODEL_PROJECTIONS,
    TrainConfig,
    TrainConfigError,
    config_from_dict,
    load_train_config,
    parse_overrides,
)
from vlm2vla_training.fit.run import ADAPTER_DIR, METRICS_FILE, MODEL_DIR, FitResult, fit
from vlm2vla_training.fit.train_log import read_train_log

__all__ = [
    "ADAPTER_DIR",
    "LANGUAGE_MODEL_PROJECTIONS",
    "METRICS_FILE",
    "MODEL_DIR",
    "FitResult",
    "TrainConfig",
    "TrainConfigError",
    "config_from_dict",
    "fit",
    "load_train_config",
    "parse_overrides",
    "read_train_log",
]
