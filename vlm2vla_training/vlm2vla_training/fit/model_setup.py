"""The model ``fit`` trains: the base Gemma-3 checkpoint, frozen except what the config trains.

LoRA (the paper): peft adapters on the language model's q/k/v/o/gate/up/down projections; the
vision tower, the multimodal projector and every base weight stay frozen. Full fine-tuning (the
ablation): every weight of the language model trains (its embedding is tied to the output
layer), the vision tower and the projector stay frozen.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from vlm2vla_policy.language import (
    AtTable,
    build_at_table,
    rank_tokens_by_model,
    rank_tokens_by_vocab_order,
)
from vlm2vla_training.fit.config import TrainConfig, TrainConfigError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def native_bf16(device: torch.device) -> bool:
    """True when ``device`` computes bf16 matrix products in hardware."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # AVX512-BF16 or AMX; without them CPU autocast to bf16 is emulated and slower than fp32.
        # (Private torch probes: absent ones count as "no".)
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return False


def resolve_precision(setting: str, device: torch.device) -> str:
    """The ``mixed_precision`` of accelerate ("bf16" or "no") for a config setting on ``device``."""
    if setting == "auto":
        # CPUs: bf16 autocast measured 1.1-2.3x slower than fp32 even with AMX (bench_fit.py on
        # a 2-core Sapphire Rapids VM), so "auto" means bf16 on CUDA only; ask for "bf16" to force.
        return "bf16" if device.type == "cuda" and native_bf16(device) else "no"
    return setting


def resolve_weights_dtype(config: TrainConfig, precision: str) -> torch.dtype:
    """Dtype to load the base weights in (see ``TrainConfig.weights_dtype``)."""
    if config.weights_dtype != "auto":
        return _DTYPES[config.weights_dtype]
    lora_under_bf16 = config.finetune == "lora" and precision == "bf16"
    return torch.bfloat16 if lora_under_bf16 else torch.float32


def load_processor(model: str) -> Any:
    """The base checkpoint's processor (tokenizer, image processor, chat template), offline."""
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(model, local_files_only=True)
    except OSError as exc:
        raise FileNotFoundError(
            f"cannot load the processor of {model!r} ({exc}); pass --model as a local Gemma-3 "
            "checkpoint directory or a hub id already in the Hugging Face cache"
        ) from None


def load_base_model(model: str, dtype: torch.dtype) -> Any:
    """The base image-text model in ``dtype``, offline (local directory or Hugging Face cache)."""
    from transformers import AutoModelForImageTextToText

    try:
        return AutoModelForImageTextToText.from_pretrained(
            model, dtype=dtype, local_files_only=True
        )
    except OSError as exc:
        raise FileNotFoundError(
            f"cannot load the model {model!r} ({exc}); pass --model as a local Gemma-3 "
            "checkpoint directory or a hub id already in the Hugging Face cache"
        ) from None


def language_model(model: Any) -> torch.nn.Module:
    """The text decoder inside a Gemma-3 image-text model."""
    inner = getattr(model, "model", None)
    decoder = getattr(inner, "language_model", None)
    if decoder is None:
        raise TrainConfigError(
            f"{type(model).__name__} has no .model.language_model; fit trains Gemma-3 "
            "image-text models (Gemma3ForConditionalGeneration)"
        )
    return decoder


def make_trainable(model: Any, config: TrainConfig) -> Any:
    """Freeze ``model`` except what ``config.finetune`` trains; return the model to train."""
    if config.finetune == "full":
        model.requires_grad_(False)
        language_model(model).requires_grad_(True)
        # The output layer shares the embedding matrix, so it trains with the language model.
        model.get_output_embeddings().requires_grad_(True)
        trainable = model
    else:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules,
            bias="none",
        )
        trainable = get_peft_model(model, lora)
        check_lora_targets(trainable)
    if config.gradient_checkpointing:
        # Non-reentrant checkpointing needs no input that requires grad (the embeddings are frozen).
        trainable.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    return trainable


def check_lora_targets(model: Any) -> None:
    """Refuse adapters outside the language model, or none at all."""
    adapted = [name for name, module in model.named_modules() if hasattr(module, "lora_A")]
    outside = [name for name in adapted if not re.search(r"(^|\.)language_model\.", name)]
    if not adapted or outside:
        raise TrainConfigError(
            f"lora_target_modules matched {len(adapted)} modules, {len(outside)} outside the "
            f"language model (e.g. {outside[:2]}); use a regex that requires 'language_model' "
            "in the module path"
        )


def parameter_counts(model: Any) -> dict[str, int]:
    """Trainable and total parameter counts (shared tensors counted once)."""
    seen: dict[int, torch.nn.Parameter] = {}
    for parameter in model.parameters():
        seen.setdefault(id(parameter), parameter)
    total = sum(p.numel() for p in seen.values())
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return {"trainable": trainable, "total": total}


def make_at_table(config: TrainConfig, model: Any, tokenizer: Any) -> AtTable | None:
    """The AT digit-token table for ``config.encoding == "at"``, else None."""
    if config.encoding != "at":
        return None
    if config.at_ranking == "model":
        ranking, method = rank_tokens_by_model(model, tokenizer)
    else:
        ranking, method = rank_tokens_by_vocab_order(tokenizer), "vocab_order"
    return build_at_table(tokenizer, ranking, method)
