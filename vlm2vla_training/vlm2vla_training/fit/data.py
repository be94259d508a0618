"""The built dataset as ``fit`` and ``eval`` use it: stage selection and the AT rewrite.

The layout is read by :func:`vlm2vla_training.built_dataset.load_built_data`. Chunk answers in the
dataset are always written with digits; the VLM2VLA-AT ablation rewrites them at training time
with :func:`at_rewrite`, so one dataset serves both encodings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from vlm2vla_policy.language import AtTable, LanguageConfig, Stage, make_chunk_codec
from vlm2vla_training.fit.chat_samples import AnswerRewrite


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
