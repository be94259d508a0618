"""Readers of every supported data format into :class:`~vlm2vla_training.episode.Episode`.

``make_reader(name, path, options)`` builds one by name: ``bridge_raw`` (BridgeData V2 raw
trajectories), ``rlds`` (the TFDS release; needs tensorflow-datasets), ``lerobot`` (LeRobot v2.x)
and ``mcap`` (this project's bags).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from vlm2vla_training.readers.base import (
    Reader,
    ReaderUnavailableError,
    ReadOptions,
    Source,
    check_episode,
)

# Reader name -> (module, class); modules are imported only when their reader is used.
READERS: dict[str, tuple[str, str]] = {
    "bridge_raw": ("vlm2vla_training.readers.bridge_raw", "BridgeRawReader"),
    "rlds": ("vlm2vla_training.readers.rlds", "RldsReader"),
    "lerobot": ("vlm2vla_training.readers.lerobot", "LeRobotReader"),
    "mcap": ("vlm2vla_training.readers.mcap_bag", "McapBagReader"),
}


def make_reader(name: str, path: Path, options: ReadOptions) -> Reader:
    """The reader ``name`` (a key of :data:`READERS`) over ``path`` with default settings."""
    if name not in READERS:
        raise ValueError(f"unknown reader {name!r}; choose one of {sorted(READERS)}")
    module, cls = READERS[name]
    return getattr(importlib.import_module(module), cls)(Path(path), options)


__all__ = [
    "READERS",
    "ReadOptions",
    "Reader",
    "ReaderUnavailableError",
    "Source",
    "check_episode",
    "make_reader",
]
