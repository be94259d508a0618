"""Loading checkpoints, processors and adapters; dtype/device choice; clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from vlm2vla_policy.language import FORMAT_VERSION
from vlm2vla_policy.runtime import (
    ADAPTER_METADATA_FILE,
    AdapterMetadataError,
    ModelConfig,
    ModelLoadError,
    load_model,
)
from vlm2vla_policy.runtime.loading import offline, resolve_device, resolve_dtype


def test_tiny_checkpoint_loads_offline_from_a_directory(tiny_gemma3_dir):
    loaded = load_model(ModelConfig(model=str(tiny_gemma3_dir)))
    assert type(loaded.model).__name__ == "Gemma3ForConditionalGeneration"
    assert type(loaded.processor).__name__ == "Gemma3Processor"
    assert loaded.device == torch.device("cpu") and loaded.dtype == torch.float32
    assert loaded.adapter is None and not loaded.adapter_switchable
    assert not loaded.model.training


def test_dtype_and_device_choice():
    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("bfloat16", cpu) == torch.bfloat16
    if not torch.cuda.is_available():
        assert resolve_device("auto") == cpu
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            resolve_device("cuda")


def test_explicit_bfloat16_on_cpu(tiny_gemma3_dir):
    loaded = load_model(ModelConfig(model=str(tiny_gemma3_dir), dtype="bfloat16"))
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_offline_by_default_and_hf_hub_offline_wins(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert offline(ModelConfig())
    assert not offline(ModelConfig(allow_download=True))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert offline(ModelConfig(allow_download=True))


def test_missing_model_names_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(ModelLoadError, match=r"ModelConfig\.model"):
        load_model(ModelConfig(model=str(tmp_path / "no_such_dir")))
    with pytest.raises(ModelLoadError, match="allow_download=True"):
        load_model(ModelConfig(model="google/gemma-3-nonexistent-it"))


def test_quantization_needs_cuda(tiny_gemma3_dir):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU refusal")
    with pytest.raises(ModelLoadError, match="needs a CUDA device"):
        load_model(ModelConfig(model=str(tiny_gemma3_dir), quantization="4bit"))


def test_adapter_loads_switchable_or_merged(tiny_gemma3_dir, tiny_lora_dir):
    loaded = load_model(ModelConfig(model=str(tiny_gemma3_dir), adapter=str(tiny_lora_dir)))
    assert loaded.adapter is not None and loaded.adapter.format_version == FORMAT_VERSION
    assert loaded.adapter_switchable and hasattr(loaded.model, "disable_adapter")
    merged = load_model(
        ModelConfig(model=str(tiny_gemma3_dir), adapter=str(tiny_lora_dir), merge_adapter=True)
    )
    assert not merged.adapter_switchable
    assert type(merged.model).__name__ == "Gemma3ForConditionalGeneration"


def test_adapter_of_another_format_version_is_refused(tiny_gemma3_dir, tiny_lora_dir, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for path in tiny_lora_dir.iterdir():
        (adapter / path.name).write_bytes(path.read_bytes())
    record = json.loads((adapter / ADAPTER_METADATA_FILE).read_text())
    record["format_version"] = 999
    (adapter / ADAPTER_METADATA_FILE).write_text(json.dumps(record))
    with pytest.raises(AdapterMetadataError, match="trained with language format 999"):
        load_model(ModelConfig(model=str(tiny_gemma3_dir), adapter=str(adapter)))


def test_adapter_dir_without_peft_files_is_refused(tiny_gemma3_dir, tmp_path):
    with pytest.raises(ModelLoadError, match=r"adapter_config\.json"):
        load_model(ModelConfig(model=str(tiny_gemma3_dir), adapter=str(tmp_path)))
