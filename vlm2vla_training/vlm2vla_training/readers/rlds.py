"""RLDS/TFDS robot datasets; by default BridgeData V2 (``bridge_dataset``, ``bridge_orig``).

Bridge's steps hold ``observation/image_0..3`` (256x256 RGB), ``observation/state`` (7 floats,
Bridge's state layout), ``action`` (7 floats, commanded), ``language_instruction``; episode metadata
``file_path`` and ``episode_id``. Other Open X-Embodiment datasets name and order these differently:
:class:`RldsConfig` maps the keys (``/`` separates nested keys) and the state columns (``vlm2vla-
train convert --reader-config FILE``). Reading needs ``tensorflow-datasets`` (the ``rlds`` extra:
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
    # Step key of the robot state ("/" separates nested keys).
    state_key: str = "observation/state"
    # Step key of the commanded action ([dx, dy, dz, droll, dpitch, dyaw, gripper]).
    action_key: str = "action"
    # Step key of the language instruction (read from the first step).
    instruction_key: str = "language_instruction"
    # Columns of [x, y, z, roll, pitch, yaw, gripper] in the state; None: the first 7 of a
    # 7-D state (Bridge), refused for other sizes.
    state_indices: tuple[int, ...] | None = None
    # Columns of the 7 action values in the action vector; None: the action as it is (7-D).
    action_indices: tuple[int, ...] | None = None


def _get(step: Mapping[str, Any], path: str) -> Any:
    """``step[a][b]`` for the key path ``"a/b"``."""
    value: Any = step
    for part in path.split("/"):
        value = value[part]
    return value


def _columns(vector: np.ndarray, indices: tuple[int, ...] | None, what: str) -> np.ndarray:
    if indices is not None:
        return vector[:, list(indices)]
    if vector.shape[1] != 7:
        raise EpisodeError(
            f"{what} is {vector.shape[1]}-D; give its 7 columns in the reader config "
            f"({what}_indices)"
        )
    return vector


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
        states = np.stack([np.asarray(_get(s, config.state_key), np.float64) for s in steps])
        commanded = np.stack([np.asarray(_get(s, config.action_key), np.float64) for s in steps])
    except KeyError as exc:
        raise EpisodeError(
            f"{source}: step lacks {exc}; map this dataset's keys in the reader config "
            "(state_key, action_key, instruction_key)"
        ) from None
    try:
        instruction = _text(_get(steps[0], config.instruction_key))
    except KeyError:
        instruction = ""  # judged by ReadOptions.require_instruction
    states = _columns(states, config.state_indices, "state")
    commanded = _columns(commanded, config.action_indices, "action")
    if not any(image.any() for image in images):
        raise EpisodeError(f"{source}: camera {key!r} is blank (has_{key} is false); pick another")
    if options.actions.source == "raw":
        actions = commanded[:-1]
    else:
        actions = recompute_actions(states, commanded[:, 6], options.actions.gripper_threshold)
    episode = Episode(
        episode_id=safe_episode_id(f"{NAME}/{name}"),
        source=source,
        instruction=instruction.strip(),
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

    config_class = RldsConfig

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
