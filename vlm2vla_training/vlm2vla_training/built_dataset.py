"""The built dataset on disk: the one module that writes and reads its layout.

A built dataset directory holds ``dataset/`` (a ``datasets.DatasetDict`` with "train" and
"eval", ``datasets.load_from_disk``) and ``build_info.json`` (format version, language config,
the settings it was built with, split episode ids, sample counts per split and stage).
``vlm2vla-train build`` writes it from labeled episodes; the paper's text-only experiment writes
one from synthetic chunks; ``fit`` and ``eval`` read it with :func:`load_built_data`. Chunk answers
are always written with digits; the AT ablation rewrites them at training time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm2vla_policy.language import FORMAT_VERSION, LanguageConfig

BUILD_INFO = "build_info.json"
DATASET_DIR = "dataset"
SPLITS = ("train", "eval")


@dataclass(frozen=True)
class BuiltData:
    """A built dataset and the text format its answers are written in."""

    # DatasetDict with "train" and "eval".
    splits: Any
    # The language config the answers were written with (chunk encoding "text").
    language: LanguageConfig
    # build_info.json as a dict.
    info: dict[str, Any]


def write_build_info(
    directory: Path,
    language: LanguageConfig,
    build_config: dict[str, Any],
    splits: dict[str, list[str]],
    samples: dict[str, dict[str, int]],
) -> Path:
    """Write ``directory/build_info.json``: what :func:`load_built_data` needs to read the data.

    ``splits``: episode ids per split; ``samples``: sample counts per split and stage.
    """
    info = {
        "format_version": FORMAT_VERSION,
        "language_config": language.to_dict(),
        "build_config": build_config,
        "splits": splits,
        "samples": samples,
    }
    path = Path(directory) / BUILD_INFO
    path.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return path


def load_built_data(data_dir: str | Path) -> BuiltData:
    """Open a built dataset directory (``vlm2vla-train build --out``)."""
    from datasets import load_from_disk

    data_dir = Path(data_dir)
    info_path, dataset_path = data_dir / BUILD_INFO, data_dir / DATASET_DIR
    if not info_path.is_file() or not dataset_path.is_dir():
        raise FileNotFoundError(
            f"{data_dir} holds no built dataset ({BUILD_INFO} and {DATASET_DIR}/); pass the --out "
            "directory of `vlm2vla-train build`"
        )
    info = json.loads(info_path.read_text())
    language = LanguageConfig.from_dict(info["language_config"])
    if language.chunk.encoding != "text":
        raise ValueError(
            f"{data_dir} was built with chunk encoding {language.chunk.encoding!r}; build with "
            "the text encoding and train with encoding 'at' instead (chunks are rewritten)"
        )
    return BuiltData(splits=load_from_disk(str(dataset_path)), language=language, info=info)
