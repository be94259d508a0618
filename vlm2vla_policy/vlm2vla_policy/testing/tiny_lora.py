"""LoRA adapters for tests: peft adapters on a tiny Gemma-3 with non-zero B matrices.

peft initialises LoRA B matrices to zero, so a fresh adapter changes nothing; tests that must see
the adapter's effect (e.g. that verification really runs without it) need non-zero B.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vlm2vla_policy.runtime.adapter_metadata import write_adapter_metadata

LANGUAGE_MODEL_PROJECTIONS: str = (
    r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
)
"""peft ``target_modules`` regex: the paper's LoRA targets, in the language model only."""


def save_lora_adapter(
    model_dir: str | Path,
    adapter_dir: str | Path,
    rank: int = 4,
    b_std: float = 0.5,
    seed: int = 0,
) -> Path:
    """Save a LoRA adapter for the model in ``model_dir`` with random non-zero B matrices.

    Writes peft's files and ``vlm2vla_adapter.json`` (current format version) to ``adapter_dir``.
    ``b_std`` is the standard deviation of the B entries (0 gives peft's no-op adapter).
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(model_dir, local_files_only=True)
    config = LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=LANGUAGE_MODEL_PROJECTIONS
    )
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * b_std)
    path = Path(adapter_dir)
    peft_model.save_pretrained(path)
    write_adapter_metadata(path, base_model=str(model_dir), training={"purpose": "tests"})
    return path
