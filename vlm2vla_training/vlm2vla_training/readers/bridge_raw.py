"""BridgeData V2 raw trajectories: ``.../traj_group<k>/traj<i>/`` directories.

Each trajectory holds ``images<c>/im_<t>.jpg`` (one directory per camera), ``obs_dict.pkl`` (a dict
of arrays with ``N`` entries, among them ``full_state`` = [x, y, z, roll, pitch, yaw, gripper] in m
/ rad in the robot base frame, which the official converters read, and ``state``),
``policy_out.pkl`` (``N - 1`` commanded actions, either a list of dicts with key ``actions`` or a
plain list of arrays) and ``lang.txt`` (the instruction on the first line; lines containing
"confidence" are metadata). Pickles are read with the restricted unpickler of
:mod:`vlm2vla_training.safe_pickle`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_training.episode import (
    Episode,
    EpisodeError,
    recompute_actions,
    safe_episode_id,
)
from vlm2vla_training.frames import FileFrames
from vlm2vla_training.readers.base import ReadOptions, Source, check_episode
from vlm2vla_training.safe_pickle import load_pickle

NAME = "bridge_raw"
_TRAJ = re.compile(r"traj\d+")
_TRAJ_GROUP = re.compile(r"traj_group\d+")
_FRAME = re.compile(r"im_(\d+)\.jpg")
_DATE_FORMAT = "%Y-%m-%d_%H-%M-%S"


@dataclass(frozen=True)
class BridgeRawConfig:
    """Settings of the BridgeData V2 raw reader."""

    # Control rate of the recordings, steps per second (BridgeData V2: 5 Hz).
    fps: float = 5.0
    # Camera used when ReadOptions.camera is None: 0 reads images0/.
    default_camera: int = 0
    # Recordings made before this date (from the "<date>/raw/traj_group*/traj*" directory name)
    # see each frame one step late; like BridgeData's own converter, drop the first observation
    # and the last action there. None turns the shift off.
    latency_shift_before: dt.datetime | None = dt.datetime(2021, 7, 23)


class BridgeRawReader:
    """Reads every ``traj_group*/traj*`` directory under a root (searched recursively)."""

    name = NAME

    def __init__(
        self, root: Path, options: ReadOptions, config: BridgeRawConfig | None = None
    ) -> None:
        self.root = Path(root)
        self.options = options
        self.config = config or BridgeRawConfig()
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"BridgeData raw root {self.root} is not a directory; pass the folder that "
                "contains traj_group*/traj*/ (at any depth)"
            )

    @cached_property
    def trajectory_dirs(self) -> list[Path]:
        """Every trajectory directory under the root, in sorted (stable) order."""
        found = []
        for parent, dirs, _ in os.walk(self.root):
            dirs.sort()
            if _TRAJ_GROUP.fullmatch(Path(parent).name):
                found.extend(Path(parent) / d for d in dirs if _TRAJ.fullmatch(d))
                dirs.clear()
        found.sort()
        return found[: self.options.limit] if self.options.limit else found

    def count(self) -> int:
        """Number of trajectory directories."""
        return len(self.trajectory_dirs)

    def sources(self) -> Iterator[Source]:
        """One source per trajectory directory."""
        for traj_dir in self.trajectory_dirs:
            relative = traj_dir.relative_to(self.root).as_posix()
            yield Source(relative, str(traj_dir), partial(self.read, traj_dir))

    def read(self, traj_dir: Path) -> list[Episode]:
        """Read one trajectory directory into an episode; raises EpisodeError for bad data."""
        return [
            check_episode(
                read_trajectory(traj_dir, self.root, self.options, self.config), self.options
            )
        ]


def read_instruction(traj_dir: Path) -> tuple[str, list[str]]:
    """(instruction, other instruction lines) from ``lang.txt``; ``("", [])`` when absent."""
    path = traj_dir / "lang.txt"
    if not path.is_file():
        return "", []
    lines = [
        line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    texts = [line for line in lines if line and "confidence" not in line.lower()]
    return (texts[0], texts[1:]) if texts else ("", [])


def frame_paths(traj_dir: Path, camera: str) -> list[Path]:
    """``images<camera>/im_<t>.jpg`` in time order; raises EpisodeError for gaps or none."""
    image_dir = traj_dir / f"images{camera}"
    if not image_dir.is_dir():
        raise EpisodeError(f"{traj_dir}: no images{camera}/ directory (camera {camera})")
    indexed = {}
    for entry in image_dir.iterdir():
        match = _FRAME.fullmatch(entry.name)
        if match:
            indexed[int(match.group(1))] = entry
    if not indexed:
        raise EpisodeError(f"{image_dir}: no im_<t>.jpg frames")
    missing = sorted(set(range(max(indexed) + 1)) - set(indexed))
    if missing:
        raise EpisodeError(f"{image_dir}: frames {missing[:5]} are missing (truncated recording)")
    return [indexed[t] for t in range(len(indexed))]


def _load(path: Path) -> Any:
    if not path.is_file():
        raise EpisodeError(f"{path} is missing")
    try:
        return load_pickle(path)
    except Exception as exc:  # any failure of a corrupt pickle is a bad episode, not a crash
        raise EpisodeError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None


def _flat_rows(value: Any) -> bool:
    """True for an array, or a list of rows that are 1-D arrays or lists of numbers.

    Checked before numpy converts ``value``: a pickle shares objects by reference, so lists of
    lists of one repeated row would make a few kilobytes expand to gigabytes.
    """
    if isinstance(value, np.ndarray):
        return True
    return isinstance(value, (list, tuple)) and all(
        (isinstance(row, np.ndarray) and row.ndim <= 1)
        or (
            isinstance(row, (list, tuple))
            and all(isinstance(x, (int, float, np.generic)) for x in row)
        )
        for row in value
    )


STATE_KEYS = ("full_state", "state")
"""Where ``obs_dict.pkl`` holds the (N, 7) EE state, in order of preference: ``full_state`` is what
BridgeData V2's own converters read; ``state`` is the fallback older recordings carry."""


def read_states(traj_dir: Path) -> np.ndarray:
    """The EE states of ``obs_dict.pkl`` as an (N, 7) float array (m, rad, base frame).

    The first of :data:`STATE_KEYS` that holds a numeric (N, 7) array wins.
    """
    obs = _load(traj_dir / "obs_dict.pkl")
    if not isinstance(obs, dict) or not any(key in obs for key in STATE_KEYS):
        raise EpisodeError(f"{traj_dir}/obs_dict.pkl is not a dict with a 'full_state' entry")
    problems = []
    for key in (k for k in STATE_KEYS if k in obs):
        if not _flat_rows(obs[key]):
            problems.append(f"{key!r} is neither an array nor a list of rows")
            continue
        try:
            states = np.asarray(obs[key], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            problems.append(f"{key!r} is not numeric ({exc})")
            continue
        if states.ndim == 2 and states.shape[1] == 7:
            return states
        problems.append(f"{key!r} has shape {states.shape}, not (N, 7)")
    raise EpisodeError(f"{traj_dir}/obs_dict.pkl: " + "; ".join(problems))


def read_policy_out(traj_dir: Path) -> np.ndarray:
    """``policy_out.pkl`` (either layout) as a (T, 7) float array of commanded actions."""
    raw = _load(traj_dir / "policy_out.pkl")
    if not isinstance(raw, (list, tuple)) or not raw:
        raise EpisodeError(f"{traj_dir}/policy_out.pkl is not a non-empty list")
    if isinstance(raw[0], dict):
        if not all(isinstance(item, dict) and "actions" in item for item in raw):
            raise EpisodeError(f"{traj_dir}/policy_out.pkl: some entries lack the 'actions' key")
        raw = [item["actions"] for item in raw]
    if not _flat_rows(raw):
        raise EpisodeError(f"{traj_dir}/policy_out.pkl actions are not a list of rows")
    try:
        actions = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EpisodeError(f"{traj_dir}/policy_out.pkl actions are not numeric: {exc}") from None
    if actions.ndim != 2 or actions.shape[1] != 7:
        raise EpisodeError(f"{traj_dir}/policy_out.pkl actions have shape {actions.shape}")
    return actions


def _latency_shifted(traj_dir: Path, cutoff: dt.datetime | None) -> bool:
    if cutoff is None or len(traj_dir.parents) < 3:
        return False
    try:
        recorded = dt.datetime.strptime(traj_dir.parents[2].name, _DATE_FORMAT)
    except ValueError:
        return False
    return recorded < cutoff


def read_trajectory(
    traj_dir: Path, root: Path, options: ReadOptions, config: BridgeRawConfig
) -> Episode:
    """One Bridge trajectory as an :class:`Episode`; raises EpisodeError for bad data."""
    camera = options.camera if options.camera is not None else str(config.default_camera)
    instruction, alternatives = read_instruction(traj_dir)
    states = read_states(traj_dir)
    paths = frame_paths(traj_dir, camera)
    commanded = read_policy_out(traj_dir)
    if not (len(paths) == len(states) == len(commanded) + 1):
        raise EpisodeError(
            f"{traj_dir}: {len(paths)} frames, {len(states)} states and {len(commanded)} actions; "
            "expected N frames, N states and N - 1 actions (truncated recording?)"
        )
    shifted = _latency_shifted(traj_dir, config.latency_shift_before)
    if shifted:
        paths, states, commanded = paths[1:], states[1:], commanded[:-1]
    if len(states) < 2:
        raise EpisodeError(f"{traj_dir}: fewer than 2 observations")
    if options.actions.source == "raw":
        actions = commanded
    else:
        actions = recompute_actions(states, commanded[:, 6], options.actions.gripper_threshold)
    relative = traj_dir.relative_to(root).as_posix()
    return Episode(
        episode_id=safe_episode_id(f"{NAME}/{relative}"),
        source=str(traj_dir),
        instruction=instruction,
        fps=config.fps,
        states=states,
        actions=actions,
        frames=FileFrames(paths),
        action_source=options.actions.source,
        metadata={
            "camera": f"images{camera}",
            "alternative_instructions": alternatives,
            "latency_shifted": shifted,
        },
    )
