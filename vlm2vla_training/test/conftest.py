"""Shared fixtures of the training tests: a small built dataset from synthetic Bridge data."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def built_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """convert -> relabel (heuristic) -> build of 5 synthetic episodes, through the CLI.

    Gives about 64 train and 16 eval samples of every stage (one eval episode).
    """
    from vlm2vla_training import synthetic
    from vlm2vla_training.cli import main

    root = tmp_path_factory.mktemp("built")
    config = synthetic.SyntheticConfig(num_steps=15)
    synthetic.write_bridge_raw(root / "bridge", 5, seed=5, config=config)
    store, out = str(root / "store"), str(root / "out")
    for argv in (
        ["convert", "--reader", "bridge_raw", "--input", str(root / "bridge"), "--store", store],
        ["relabel", "--store", store, "--labeler", "heuristic"],
        ["build", "--store", store, "--out", out, "--eval-fraction", "0.2"],
    ):
        assert main([*argv, "--quiet"]) == 0, argv
    return root / "out"
