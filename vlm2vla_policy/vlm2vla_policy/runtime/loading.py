"""Loading a Gemma-3 image-text checkpoint, its processor and a vlm2vla LoRA adapter.

Offline by default: the model must be a local directory or already in the Hugging Face cache,
unless :attr:`ModelConfig.allow_download` is set (``HF_HUB_OFFLINE=1`` forbids downloads
regardless).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vlm2vla_policy.runtime.adapter_metadata import AdapterMetadata, read_adapter_metadata
from vlm2vla_policy.runtime.config import ModelConfig
from vlm2vla_policy.runtime.errors import ModelLoadError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_TRUE = {"1", "true", "yes", "on"}


@dataclass
class LoadedModel:
    """A model ready for generation."""

    # Gemma3ForConditionalGeneration, or a peft PeftModel wrapping it when an adapter is active.
    model: Any
    # The matching Gemma3Processor (tokenizer, image processor, chat template).
    processor: Any
    # Where the weights live.
    device: torch.device
    # Weight dtype (the compute dtype for quantized weights).
    dtype: torch.dtype
    # The adapter's metadata, None for the base model alone.
    adapter: AdapterMetadata | None
    # True when a LoRA adapter is attached unmerged, so it can be disabled (on-board verifier).
    adapter_switchable: bool


def resolve_device(name: str) -> torch.device:
    """``auto`` is the first CUDA device when present, else the CPU; other names pass through."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {name!r} was asked for but CUDA is not available; use 'cpu'")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on CUDA and float32 on CPU (bfloat16 on CPU is allowed explicitly)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return _DTYPES[name]


def offline(config: ModelConfig) -> bool:
    """True unless downloads are allowed by config and not forbidden by HF_HUB_OFFLINE."""
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return not config.allow_download or env.strip().lower() in _TRUE


def load_model(config: ModelConfig) -> LoadedModel:
    """Load model, processor and (optionally) the LoRA adapter described by ``config``.

    The adapter's ``vlm2vla_adapter.json`` is checked before any weights are read, so an adapter
    of another text-format version fails fast. Raises :class:`ModelLoadError` with what to pass
    when the model or adapter cannot be found.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    metadata = _check_adapter(config.adapter) if config.adapter else None
    local_only = offline(config)
    source = _model_source(config.model)
    kwargs: dict[str, Any] = {"local_files_only": local_only}
    if config.revision:
        kwargs["revision"] = config.revision
    load_kwargs = dict(kwargs, dtype=dtype, **_placement(config, device, dtype))
    try:
        processor = AutoProcessor.from_pretrained(source, **kwargs)
        model = AutoModelForImageTextToText.from_pretrained(source, **load_kwargs)
    except OSError as exc:
        raise ModelLoadError(_not_found_message(config.model, local_only, exc)) from None
    if config.quantization == "none" and device.type != "cuda":
        model = model.to(device)
    model.eval()
    if config.adapter:
        model = _attach_adapter(model, config)
    return LoadedModel(
        model=model,
        processor=processor,
        device=device,
        dtype=dtype,
        adapter=metadata,
        adapter_switchable=bool(config.adapter) and not config.merge_adapter,
    )


def _check_adapter(adapter: str) -> AdapterMetadata:
    directory = Path(adapter)
    if not (directory / "adapter_config.json").is_file():
        raise ModelLoadError(
            f"adapter {adapter!r} is not a directory with a peft adapter_config.json; pass the "
            "directory training wrote (ModelConfig.adapter), or '' for the base model"
        )
    return read_adapter_metadata(directory)


def _model_source(model: str) -> str:
    """``model`` as from_pretrained takes it: an existing directory, or a hub id."""
    path = Path(model).expanduser()
    looks_local = model.startswith((".", "/", "~")) or path.exists()
    if looks_local and not path.is_dir():
        raise ModelLoadError(
            f"model directory {model!r} does not exist; pass ModelConfig.model as an existing "
            "directory with config.json, or a Hugging Face id such as 'google/gemma-3-12b-it'"
        )
    return str(path) if looks_local else model


def _placement(config: ModelConfig, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    if config.quantization == "none":
        return {"device_map": {"": str(device)}} if device.type == "cuda" else {}
    if device.type != "cuda":
        raise ModelLoadError(
            f"quantization {config.quantization!r} needs a CUDA device (bitsandbytes); use "
            "quantization='none' on CPU"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelLoadError(
            f"quantization {config.quantization!r} needs bitsandbytes: pip install bitsandbytes"
        )
    from transformers import BitsAndBytesConfig

    if config.quantization == "4bit":
        quantization = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
        )
    else:
        quantization = BitsAndBytesConfig(load_in_8bit=True)
    return {"quantization_config": quantization, "device_map": {"": str(device)}}


def _attach_adapter(model: Any, config: ModelConfig) -> Any:
    from peft import PeftModel

    try:
        model = PeftModel.from_pretrained(model, config.adapter, is_trainable=False)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"the LoRA adapter in {config.adapter!r} does not fit the model {config.model!r} "
            f"({exc}); pass the adapter trained on this base model"
        ) from None
    model.eval()
    return model.merge_and_unload() if config.merge_adapter else model


def _not_found_message(model: str, local_only: bool, exc: Exception) -> str:
    why = " ".join(str(exc).split())  # transformers' message wraps; this one stays one line
    if local_only:
        return (
            f"model {model!r} is neither a local directory nor in the Hugging Face cache, and "
            "downloads are off (offline by default); pass ModelConfig.model as a local directory "
            "with config.json, or set ModelConfig.allow_download=True and unset HF_HUB_OFFLINE "
            f"to download it ({why})"
        )
    return (
        f"model {model!r} could not be loaded ({why}); check the id or directory, the network "
        "and your Hugging Face token (gated models such as Gemma need an accepted licence)"
    )
