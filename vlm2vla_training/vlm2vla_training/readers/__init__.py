"""Readers of every supported data format into :class:`~vlm2vla_training.episode.Episode`.

``make_reader(name, path, options)`` builds one by name: ``bridge_raw`` (BridgeData V2 raw
trajectories), ``rlds`` (TFDS/RLDS datasets; needs tensorflow-datasets), ``lerobot`` (LeRobot v3.x
and v2.x) and ``mcap`` (this project's bags).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from vlm2vla_policy.settings import from_dict
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


def make_reader(
    name: str, path: Path, options: ReadOptions, config: dict[str, Any] | None = None
) -> Reader:
    """The reader ``name`` (a key of :data:`READERS`) over ``path``.

    ``config``: the reader's settings as a plain dict (e.g. an RLDS dataset's key mapping),
    checked against its config class; None or empty: the defaults.
    """
    if name not in READERS:
        raise ValueError(f"unknown reader {name!r}; choose one of {sorted(READERS)}")
    module, cls = READERS[name]
    reader_class = getattr(importlib.import_module(module), cls)
    if not config:
        return reader_class(Path(path), options)
    config_class = getattr(reader_class, "config_class", None)
    if config_class is None:
        raise ValueError(f"the {name} reader takes no reader config")
    return reader_class(Path(path), options, from_dict(config_class, config, ValueError))


__all__ = [
    "READERS",
    "ReadOptions",
    "Reader",
    "ReaderUnavailableError",
    "Source",
    "check_episode",
    "make_reader",
]
