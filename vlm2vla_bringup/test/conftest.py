"""Fixtures of the graph tests (test_streaming_graph, test_faults): see graph_harness.py."""

from pathlib import Path

import pytest
from graph_harness import Graph

from vlm2vla_bringup.bags.sample import write_sample_bag


@pytest.fixture(scope="session")
def camera_bag(tmp_path_factory) -> Path:
    """An 8 s sample bag: the camera of the graph tests (played in a loop)."""
    return write_sample_bag(tmp_path_factory.mktemp("bags") / "sample", seconds=8.0)


@pytest.fixture
def graph(tiny_gemma3_dir, camera_bag):
    """A :class:`graph_harness.Graph` to start; every process is stopped afterwards."""
    started = Graph(tiny_gemma3_dir, camera_bag)
    yield started
    started.close()
