"""The runtime benchmark: a one-cycle smoke run on the tiny tier, and the 12B tier on CUDA."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_runtime.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_runtime", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_tiny_tier_reports_stages_and_one_vision_pass_per_cycle(bench, torch_one_thread):
    result = bench.run_tier("tiny", cycles=1, seed=0)
    assert set(result["stages"]) == {"subtasks", "plan", "chunk", "verification"}
    cycle = result["cycle"]
    assert cycle["vision_calls_per_cycle"] == 1  # the chunk reuses the plan's image prefix
    assert cycle["plan_chunk_ms"] > 0
    assert result["stages"]["chunk"]["reused_tokens"] > 0


@pytest.mark.gpu
@pytest.mark.slow
def test_gemma3_12b_tier_on_cuda(bench):
    result = bench.run_tier("12b", cycles=1, seed=0)
    assert result["stages"]["plan"]["prefill_tokens"] > 256  # 256 image tokens + the text
    assert result["cycle"]["vision_calls_per_cycle"] == 1
