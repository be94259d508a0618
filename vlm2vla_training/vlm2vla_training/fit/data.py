"""The built dataset as ``fit`` and ``eval`` read it: splits, its text format, stage selection.

``vlm2vla-train build`` writes ``<data>/dataset`` (a DatasetDict with "train" and "eval") and
``<data>/build_info.json`` (format version, language config, split episode ids). Chunk answers in
the dataset are always written with digits; the VLM2VLA-AT ablation rewrites them at training time
with :func:`at_rewrite`, so one dataset serves both encodings.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vlm2vla_policy.language import AtTable, LanguageConfig, Stage, make_chunk_codec
from vlm2vla_training.fit.chat_samples import AnswerRewrite

BUILD_INFO = "build_info.json"
DATASET_DIR = "dataset"


@dataclass(frozen=True)
class BuiltData:
    """A built dataset and the text format its answers are written in."""

    # DatasetDict with "train" and "eval".
    splits: Any
    # The language config the answers were written with (chunk encoding "text").
    language: LanguageConfig
    # build_info.json as a dict.
    info: dict[str, Any]


def load_built_data(data_dir: str | Path) -> BuiltData:
    """Open ``vlm2vla-train build``'s output directory."""
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


def stage_rows(split: Any, stages: tuple[str, ...]) -> list[int]:
    """Row indices of ``split`` whose stage is one of ``stages``, in dataset order."""
    wanted = set(stages)
    return [index for index, stage in enumerate(split["stage"]) if stage in wanted]


def at_language(language: LanguageConfig) -> LanguageConfig:
    """``language`` with chunks written in the AT encoding."""
    return dataclasses.replace(language, chunk=dataclasses.replace(language.chunk, encoding="at"))


def at_rewrite(language: LanguageConfig, table: AtTable) -> AnswerRewrite:
    """A rewrite of chunk answers from digits to ``table``'s tokens (other stages unchanged)."""
    text_codec = make_chunk_codec(language.chunk)
    at_codec = make_chunk_codec(at_language(language).chunk, table)

    def rewrite(stage: str, answer: str) -> str:
        if stage != Stage.CHUNK.value:
            return answer
        return at_codec.encode(text_codec.decode(answer))

    return rewrite


class SelectedRows(torch.utils.data.Dataset):
    """A map-style view of ``split`` restricted to ``rows`` (positions -> dataset rows)."""

    def __init__(self, split: Any, rows: list[int]) -> None:
        self.split = split
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, position: int) -> dict[str, Any]:
        return self.split[self.rows[position]]
