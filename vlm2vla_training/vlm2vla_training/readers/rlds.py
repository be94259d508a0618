"""The RLDS/TFDS release of BridgeData V2 (``bridge_dataset``, OpenVLA's ``bridge_orig``).

Per step: ``observation/image_0..3`` (256x256 RGB), ``observation/state`` (7 floats, Bridge's
state layout), ``action`` (7 floats, commanded), ``language_instruction``; episode metadata
``file_path`` and ``episode_id``. Reading needs ``tensorflow-datasets`` (the ``rlds`` extra:
``pip install 'vlm2vla_training[rlds]'``); without it the reader says so and does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_training.episode import Episode, EpisodeError, recompute_actions, safe_episode_id
from vlm2vla_training.frames import ArrayFrames
from vlm2vla_training.readers.base import ReaderUnavailableError, ReadOptions, Source, check_episode

NAME = "rlds"


@dataclass(frozen=True)
class RldsConfig:
    """Settings of the RLDS reader."""

    # TFDS split to read, with TFDS slicing syntax allowed (e.g. "train", "val", "train[:100]").
    split: str = "train"
    # Control rate of the recordings, steps per second (BridgeData V2: 5 Hz).
    fps: float = 5.0
    # Image key under "observation" used when ReadOptions.camera is None.
    default_image_key: str = "image_0"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def episode_from_steps(
    steps: Sequence[Mapping[str, Any]],
    name: str,
    source: str,
    options: ReadOptions,
    config: RldsConfig,
) -> Episode:
    """An :class:`Episode` from one RLDS episode's steps (numpy dicts, as ``tfds.as_numpy``).

    ``N`` steps give ``N`` observations and ``N - 1`` actions: the last step's action has no next
    observation and is dropped (in "states" mode its state difference does not exist either).
    """
    if len(steps) < 2:
        raise EpisodeError(f"{source}: {len(steps)} step(s); need at least 2")
    key = options.camera or config.default_image_key
    try:
        images = [np.asarray(step["observation"][key]) for step in steps]
        states = np.stack([np.asarray(step["observation"]["state"], np.float64) for step in steps])
        commanded = np.stack([np.asarray(step["action"], np.float64) for step in steps])
    except KeyError as exc:
        raise EpisodeError(
            f"{source}: step lacks {exc}; is this the bridge_dataset layout?"
        ) from None
    if not any(image.any() for image in images):
        raise EpisodeError(f"{source}: camera {key!r} is blank (has_{key} is false); pick another")
    if options.actions.source == "raw":
        actions = commanded[:-1]
    else:
        actions = recompute_actions(states, commanded[:, 6], options.actions.gripper_threshold)
    episode = Episode(
        episode_id=safe_episode_id(f"{NAME}/{name}"),
        source=source,
        instruction=_text(steps[0].get("language_instruction", b"")).strip(),
        fps=config.fps,
        states=states,
        actions=actions,
        frames=ArrayFrames(images),
        action_source=options.actions.source,
        metadata={"camera": key},
    )
    return check_episode(episode, options)


class RldsReader:
    """Reads a TFDS dataset directory (e.g. ``.../bridge_dataset/1.0.0``) episode by episode."""

    name = NAME

    def __init__(self, path: Path, options: ReadOptions, config: RldsConfig | None = None) -> None:
        self.path = Path(path)
        self.options = options
        self.config = config or RldsConfig()

    @cached_property
    def _tfds(self) -> Any:
        try:
            import tensorflow_datasets as tfds
        except ImportError:
            raise ReaderUnavailableError(
                "the RLDS reader needs tensorflow-datasets, which is not installed: "
                "pip install 'vlm2vla_training[rlds]' (or read the raw BridgeData tree with "
                "--reader bridge_raw)"
            ) from None
        return tfds

    @cached_property
    def _builder(self) -> Any:
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path} is not a TFDS dataset directory")
        return self._tfds.builder_from_directory(str(self.path))

    def count(self) -> int | None:
        """Episodes in the split (None when TFDS cannot tell, e.g. for a sliced split)."""
        splits = self._builder.info.splits
        total = splits[self.config.split].num_examples if self.config.split in splits else None
        if total is not None and self.options.limit:
            return min(total, self.options.limit)
        return total

    def sources(self) -> Iterator[Source]:
        """One source per episode, in the stored order (files are not shuffled)."""
        dataset = self._builder.as_dataset(split=self.config.split, shuffle_files=False)
        dataset_name = self._builder.info.name
        for index, episode in enumerate(self._tfds.as_numpy(dataset)):
            if self.options.limit and index >= self.options.limit:
                return
            name = f"{dataset_name}/{self.config.split}/{index}"
            yield Source(
                name,
                f"{self.path}[{self.config.split}][{index}]",
                partial(self._read, episode, name),
            )

    def _read(self, episode: Mapping[str, Any], name: str) -> list[Episode]:
        steps = list(episode["steps"])
        source = f"{self.path}[{name}]"
        return [episode_from_steps(steps, name, source, self.options, self.config)]
