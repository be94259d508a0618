"""One demonstration as every reader delivers it: :class:`Episode`.

Frame and units: states and actions are in the robot base frame (+x forward, +y left, +z up),
positions in metres, angles in radians, gripper in [0, 1] with 1 = open. An episode with ``N``
observations has ``N`` frames, ``N`` states and ``N - 1`` actions; action ``t`` takes the robot
from observation ``t`` to observation ``t + 1``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlm2vla_training.frames import FrameSequence

STATE_FIELDS: tuple[str, ...] = ("x", "y", "z", "roll", "pitch", "yaw", "gripper")
"""Columns of a state (m, m, m, rad, rad, rad, [0, 1]); Bridge's ``state`` layout."""

ACTION_FIELDS: tuple[str, ...] = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")
"""Columns of an action (m, m, m, rad, rad, rad, gripper command in [0, 1])."""

ACTION_SOURCES: tuple[str, ...] = ("states", "raw")
"""``states``: actions recomputed from reached states (as the peers train); ``raw``: as recorded."""

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class EpisodeError(ValueError):
    """An episode cannot be read or is inconsistent; the message says what and what to do."""


@dataclass(frozen=True)
class ActionOptions:
    """How a reader turns what was recorded into the actions of an :class:`Episode`."""

    # "states": a_t = state_{t+1} - state_t for xyz and rpy, gripper binarised (the peers' way);
    # "raw": the commanded actions exactly as recorded (e.g. Bridge's policy_out.pkl).
    source: str = "states"
    # Gripper commands at or above this count as open (1), below as closed (0), in "states" mode.
    gripper_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.source not in ACTION_SOURCES:
            raise ValueError(
                f"ActionOptions.source must be one of {ACTION_SOURCES}, got {self.source!r}"
            )
        if not 0.0 < self.gripper_threshold < 1.0:
            raise ValueError("ActionOptions.gripper_threshold must lie strictly between 0 and 1")


@dataclass(frozen=True, eq=False)
class Episode:
    """A demonstration: instruction, lazily loaded frames, states, actions, rate and origin."""

    # Unique, file-system-safe name (see safe_episode_id); the store uses it as a directory name.
    episode_id: str
    # Where the episode was read from (path or URI), for reports.
    source: str
    # The natural-language instruction; "" when the data has none.
    instruction: str
    # Control rate of the recording, steps per second (Bridge: 5).
    fps: float
    # (N, 7) states [x, y, z, roll, pitch, yaw, gripper]: m, rad, base frame; gripper 1 = open.
    states: np.ndarray
    # (N - 1, 7) actions [dx, dy, dz, droll, dpitch, dyaw, gripper]: m, rad, base frame.
    actions: np.ndarray
    # N frames of the chosen camera; frame t is seen with state t.
    frames: FrameSequence
    # "states" (recomputed from reached states) or "raw" (as recorded); see ActionOptions.
    action_source: str = "states"
    # JSON-serialisable extras from the source (e.g. the policy's chunks in a bag).
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        states = np.asarray(self.states, dtype=np.float64)
        actions = np.asarray(self.actions, dtype=np.float64)
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "actions", actions)
        if safe_episode_id(self.episode_id) != self.episode_id:
            raise EpisodeError(
                f"episode id {self.episode_id!r} is not file-system safe; build it with "
                "safe_episode_id()"
            )
        if states.ndim != 2 or states.shape[1] != len(STATE_FIELDS):
            raise EpisodeError(
                f"{self.source}: states have shape {states.shape}, expected (N, 7) "
                f"{list(STATE_FIELDS)}"
            )
        if len(states) < 2:
            raise EpisodeError(f"{self.source}: {len(states)} observation(s); need at least 2")
        if actions.shape != (len(states) - 1, len(ACTION_FIELDS)):
            raise EpisodeError(
                f"{self.source}: actions have shape {actions.shape}, expected "
                f"({len(states) - 1}, 7): one action per step between consecutive states"
            )
        if len(self.frames) != len(states):
            raise EpisodeError(
                f"{self.source}: {len(self.frames)} frames for {len(states)} states; every "
                "observation needs one frame"
            )
        if not (np.isfinite(states).all() and np.isfinite(actions).all()):
            raise EpisodeError(f"{self.source}: states or actions hold NaN or inf")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise EpisodeError(f"{self.source}: fps must be positive, got {self.fps!r}")
        if self.action_source not in ACTION_SOURCES:
            raise EpisodeError(f"action_source must be one of {ACTION_SOURCES}")

    @property
    def num_steps(self) -> int:
        """Number of actions (observations minus one)."""
        return len(self.actions)


def safe_episode_id(text: str) -> str:
    """``text`` made file-system safe: path separators become ``--``, other odd runs ``_``."""
    parts = [_UNSAFE_ID_CHARS.sub("_", part) for part in re.split(r"[\\/]+", text) if part]
    safe = "--".join(p.strip("._") or "_" for p in parts)
    if not safe:
        raise ValueError(f"cannot make an episode id from {text!r}")
    return safe


def binarise_gripper(values: np.ndarray, threshold: float) -> np.ndarray:
    """1.0 where ``values >= threshold`` (open), else 0.0 (closed)."""
    return (np.asarray(values, dtype=np.float64) >= threshold).astype(np.float64)


def wrap_angle_rad(angles: np.ndarray) -> np.ndarray:
    """Angles wrapped into [-pi, pi)."""
    return (np.asarray(angles) + np.pi) % (2 * np.pi) - np.pi


def recompute_actions(
    states: np.ndarray,
    commanded_gripper: np.ndarray | None = None,
    gripper_threshold: float = 0.5,
) -> np.ndarray:
    """Actions from reached states, as the peers (Octo, OpenVLA) relabel Bridge.

    ``states`` is (N, 7) ``[x, y, z, roll, pitch, yaw, gripper]`` (m, rad, base frame). Returns
    (N - 1, 7): ``a_t[:6] = state_{t+1}[:6] - state_t[:6]`` (rotation differences wrapped into
    [-pi, pi)), the last observation having no action. The gripper column is the commanded gripper
    of step t when given (``commanded_gripper``, length >= N - 1; what the peers use), else the
    reached gripper ``state_{t+1}``; either way binarised at ``gripper_threshold`` (1 = open).
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != len(STATE_FIELDS) or len(states) < 2:
        raise EpisodeError(f"states have shape {states.shape}; need (N >= 2, 7)")
    steps = len(states) - 1
    actions = np.empty((steps, len(ACTION_FIELDS)))
    actions[:, :3] = np.diff(states[:, :3], axis=0)
    actions[:, 3:6] = wrap_angle_rad(np.diff(states[:, 3:6], axis=0))
    if commanded_gripper is None:
        gripper = states[1:, 6]
    else:
        commanded = np.asarray(commanded_gripper, dtype=np.float64).reshape(-1)
        if len(commanded) < steps:
            raise EpisodeError(
                f"{len(commanded)} gripper commands for {steps} steps; need one per step"
            )
        gripper = commanded[:steps]
    actions[:, 6] = binarise_gripper(gripper, gripper_threshold)
    return actions
