"""MCAP bags recorded by this project (rosbag2's default storage), read without ROS.

Topics (defaults of :class:`McapConfig`): camera ``sensor_msgs/Image`` on ``/camera/image_raw``,
``sensor_msgs/JointState`` on ``/wx250s/joint_states``, the instruction ``std_msgs/String`` on
``/vlm2vla/instruction`` and the policy's ``vlm2vla_msgs/ActionChunk`` on
``/vlm2vla/action_chunk``. Each ``.mcap`` file (the storage of a rosbag2 directory) is read and
decoded by ``vlm2vla_policy.bags``.

Each non-empty instruction starts an episode; the next instruction (or an empty one, the stop
signal) ends it. Within an episode the latest image and joint state are sampled every
``1 / fps`` seconds of log time; the end-effector state comes from the joint states through the
project's forward kinematics (:mod:`vlm2vla_policy.robot.bridge_state`). Actions are recomputed
from the sampled states; the gripper column is the commanded gripper of the recorded chunks
(:func:`commanded_gripper`) when the bag has any, else the reached gripper. The chunks are kept
in ``Episode.metadata["policy_chunks"]`` with ``observation``, the index of the last observation
sampled before the chunk arrived (-1 before the first).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_policy.bags import BagReader
from vlm2vla_policy.robot.bridge_state import JointStateToEE, KinematicEEState
from vlm2vla_training.episode import Episode, EpisodeError, recompute_actions, safe_episode_id
from vlm2vla_training.frames import EncodedFrames, encode_jpeg
from vlm2vla_training.readers.base import ReadOptions, Source, check_episode

NAME = "mcap"
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class McapConfig:
    """Topics and sampling of the MCAP bag reader."""

    # Camera topic (sensor_msgs/Image; rgb8, bgr8, rgba8, bgra8 or mono8) used when
    # ReadOptions.camera is None.
    image_topic: str = "/camera/image_raw"
    # Joint states of the arm (sensor_msgs/JointState): arm joints in rad, fingers in m.
    joint_states_topic: str = "/wx250s/joint_states"
    # The user's instruction (std_msgs/String); an empty string ends the current episode.
    instruction_topic: str = "/vlm2vla/instruction"
    # The policy's chunks (vlm2vla_msgs/ActionChunk), kept as metadata.
    action_chunk_topic: str = "/vlm2vla/action_chunk"
    # Rate at which observations are sampled, per second (Bridge's control rate: 5).
    fps: float = 5.0
    # An image or joint state older than this (s) at a sample time makes the sample stale;
    # an episode with a stale sample after its first one has a gap and is skipped.
    max_staleness_s: float = 0.5
    # JPEG quality of the sampled frames kept in memory (1-95).
    jpeg_quality: int = 95
    # Joint state -> EE state hook; None = the wx250s forward kinematics of vlm2vla_policy.robot.
    ee_state: JointStateToEE | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.fps > 0 or not self.max_staleness_s > 0:
            raise ValueError("McapConfig.fps and max_staleness_s must be > 0")


def image_array(msg: Any) -> np.ndarray:
    """A ``sensor_msgs/Image`` as an (H, W, 3) RGB or (H, W) grey uint8 array."""
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(msg.encoding)
    if channels is None:
        raise EpisodeError(
            f"image encoding {msg.encoding!r} is not supported; record rgb8, bgr8, rgba8, bgra8 "
            "or mono8"
        )
    raw = np.asarray(msg.data, dtype=np.uint8).reshape(-1)
    if raw.size < msg.step * msg.height or msg.step < msg.width * channels:
        raise EpisodeError(f"image data too short for {msg.width}x{msg.height} {msg.encoding}")
    rows = raw[: msg.step * msg.height].reshape(msg.height, msg.step)[:, : msg.width * channels]
    if channels == 1:
        return rows.reshape(msg.height, msg.width)
    pixels = rows.reshape(msg.height, msg.width, channels)[:, :, :3]
    return pixels[:, :, ::-1] if msg.encoding.startswith("bgr") else pixels


@dataclass
class _Recording:
    """An episode being assembled from the message stream."""

    instruction: str
    next_sample_ns: int
    frames: list[bytes] = field(default_factory=list)
    states: list[np.ndarray] = field(default_factory=list)
    chunks: list[dict[str, Any]] = field(default_factory=list)
    # Why sampling stalled (no fresh data); fatal only if fresh data comes back afterwards.
    stalled: str = ""
    # Set when the recording has a gap in the middle: the episode is unusable.
    gap: str = ""


def commanded_gripper(chunks: list[dict[str, Any]], steps: int) -> np.ndarray | None:
    """Per-step gripper commands (1 = open) from the recorded chunks, or None without chunks.

    A chunk that arrived after observation ``k`` commands the steps from ``k`` until the next
    chunk's (the episode's end for the last); its own steps are spread evenly over them. Steps
    before the first chunk keep its first command. The reached gripper cannot stand in for this:
    fingers closed on an object stop half open, on either side of any threshold.
    """
    if not chunks or steps < 1:
        return None
    commands = np.full(steps, float(chunks[0]["gripper"][0]) if chunks[0]["gripper"] else 1.0)
    starts = [max(int(c["observation"]), 0) for c in chunks] + [steps]
    for chunk, start, end in zip(chunks, starts, starts[1:], strict=False):
        gripper = chunk["gripper"]
        if not gripper or end <= start:
            continue
        span = end - start
        for t in range(start, min(end, steps)):
            commands[t] = gripper[min((t - start) * len(gripper) // span, len(gripper) - 1)]
    return commands


class McapBagReader:
    """Reads ``*.mcap`` files: a single file, or every one under a directory (recursively)."""

    name = NAME

    def __init__(self, path: Path, options: ReadOptions, config: McapConfig | None = None) -> None:
        self.path = Path(path)
        self.options = options
        self.config = config or McapConfig()
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} does not exist; pass an .mcap file or a folder")
        self.bags = [self.path] if self.path.is_file() else sorted(self.path.rglob("*.mcap"))
        if self.options.limit:
            self.bags = self.bags[: self.options.limit]

    def count(self) -> int:
        """Number of bag files."""
        return len(self.bags)

    def sources(self) -> Iterator[Source]:
        """One source per bag file."""
        for bag in self.bags:
            relative = bag.name if bag == self.path else bag.relative_to(self.path).as_posix()
            yield Source(relative, str(bag), partial(self.read, bag, relative))

    def read(self, bag: Path, relative: str) -> list[Episode | EpisodeError]:
        """Every episode of one bag; bad ones come back as EpisodeError with the reason."""
        stem = relative.removesuffix(".mcap")
        results: list[Episode | EpisodeError] = []
        for index, item in enumerate(_BagSampler(bag, self.options, self.config).recordings()):
            if isinstance(item, EpisodeError):
                results.append(item)
                continue
            try:
                results.append(self._episode(item, bag, f"{NAME}/{stem}/{index}"))
            except EpisodeError as exc:
                results.append(exc)
        return results

    def _episode(self, recording: _Recording, bag: Path, name: str) -> Episode:
        source = f"{bag} (episode {name.rsplit('/', 1)[-1]}: {recording.instruction!r})"
        if recording.gap:
            raise EpisodeError(f"{source}: {recording.gap}")
        if len(recording.states) < 2:
            raise EpisodeError(f"{source}: fewer than 2 samples with both an image and joints")
        if self.options.actions.source == "raw":
            raise EpisodeError(
                f"{source}: bags record no per-step commanded actions; use actions from states"
            )
        states = np.stack(recording.states)
        commanded = commanded_gripper(recording.chunks, len(states) - 1)
        episode = Episode(
            episode_id=safe_episode_id(name),
            source=source,
            instruction=recording.instruction,
            fps=self.config.fps,
            states=states,
            actions=recompute_actions(states, commanded, self.options.actions.gripper_threshold),
            frames=EncodedFrames(recording.frames),
            action_source="states",
            metadata={"policy_chunks": recording.chunks},
        )
        return check_episode(episode, self.options)


class _BagSampler:
    """One pass over a bag in log-time order, sampling observations into recordings."""

    def __init__(self, bag: Path, options: ReadOptions, config: McapConfig) -> None:
        self.bag = bag
        self.config = config
        self.image_topic = options.camera or config.image_topic
        self.ee_state = config.ee_state or KinematicEEState()
        self.period_ns = round(_NS_PER_S / config.fps)
        self.stale_ns = round(config.max_staleness_s * _NS_PER_S)
        self.image: tuple[int, Any] | None = None
        self.state: tuple[int, np.ndarray] | None = None

    def recordings(self) -> Iterator[_Recording | EpisodeError]:
        """Recordings in order; a read error ends the bag (the open recording is reported)."""
        topics = [
            self.image_topic,
            self.config.joint_states_topic,
            self.config.instruction_topic,
            self.config.action_chunk_topic,
        ]
        current: _Recording | None = None
        time_ns = 0
        try:
            for message, decoded in BagReader(self.bag).decoded(topics):
                time_ns = message.log_time_ns
                if current is not None:
                    self._sample_until(current, time_ns)
                if message.topic == self.config.instruction_topic:
                    if current is not None:
                        yield current
                    text = decoded.data.strip()
                    current = _Recording(text, time_ns) if text else None
                else:
                    self._update(message.topic, time_ns, decoded, current)
        except Exception as exc:  # a truncated or corrupt bag ends here; earlier episodes stand
            during = f" during episode {current.instruction!r}" if current is not None else ""
            yield EpisodeError(
                f"{self.bag}: reading stopped{during} ({type(exc).__name__}: {exc}); a "
                "truncated recording or a message the reader cannot use"
            )
            return
        if current is not None:
            self._sample_until(current, time_ns + 1)
            yield current

    def _update(self, topic: str, time_ns: int, msg: Any, current: _Recording | None) -> None:
        if topic == self.image_topic:
            self.image = (time_ns, msg)
        elif topic == self.config.joint_states_topic:
            state = self.ee_state(list(msg.name), list(msg.position))
            if state is not None:
                self.state = (time_ns, state)
        elif topic == self.config.action_chunk_topic and current is not None:
            current.chunks.append(
                {
                    "observation": len(current.states) - 1,
                    "subtask": msg.subtask,
                    "subtask_index": int(msg.subtask_index),
                    "motion_plan": msg.motion_plan,
                    "translations_m": [[v.x, v.y, v.z] for v in msg.translations_m],
                    "gripper": [float(g) for g in msg.gripper],
                }
            )

    def _sample_until(self, recording: _Recording, time_ns: int) -> None:
        """Emit the samples due before ``time_ns`` from the latest image and joint state.

        Messages logged exactly at a sample time count for that sample. Samples stop when the data
        goes stale; if fresh data comes back later, the episode has a gap and is refused.
        """
        while recording.next_sample_ns < time_ns:
            sample_ns = recording.next_sample_ns
            recording.next_sample_ns += self.period_ns
            fresh = (
                self.image is not None
                and self.state is not None
                and sample_ns - self.image[0] <= self.stale_ns
                and sample_ns - self.state[0] <= self.stale_ns
            )
            if not fresh:
                if recording.states and not recording.stalled:
                    recording.stalled = (
                        f"no fresh image or joint state at {sample_ns / _NS_PER_S:.3f} s (older "
                        f"than {self.config.max_staleness_s} s) but data later: the recording has "
                        "a gap"
                    )
                continue
            if recording.stalled:
                recording.gap = recording.gap or recording.stalled
                continue
            recording.frames.append(
                encode_jpeg(image_array(self.image[1]), self.config.jpeg_quality)
            )
            recording.states.append(self.state[1])
