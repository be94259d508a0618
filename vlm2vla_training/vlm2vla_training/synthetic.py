"""Synthetic pick-and-place demonstrations in the real on-disk formats, for tests and experiments.

:func:`make_trajectory` scripts a WidowX-style pick and place in the robot base frame (metres;
+x forward, +y left, +z up): reach down to the object, close the gripper, carry it to the target,
open the gripper, back off. Frames are small top-down drawings of the table (target disc, object
square, gripper circle growing with height). Writers put trajectories where the readers expect
them: a BridgeData V2 raw tree (pickles, JPEGs, lang.txt), an MCAP bag as this project records it
(a rosbag2 directory; joint states from the wx250s inverse kinematics), and a LeRobot v2.1
dataset with PNG image columns. Bad copies (truncated pickle, missing frame, truncated JPEG) can
be asked for.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from vlm2vla_policy.bags import DEFAULT_COMPRESSION, STACK_TOPICS, BagWriter, messages
from vlm2vla_policy.bags.qos import (
    ACTION_CHUNK_TOPIC,
    CAMERA_TOPIC,
    INSTRUCTION_TOPIC,
    JOINT_STATES_TOPIC,
)
from vlm2vla_policy.robot.bridge_state import GRIPPER_DOWN
from vlm2vla_training.episode import recompute_actions

OBJECTS: tuple[str, ...] = ("carrot", "spoon", "cup", "eggplant", "banana", "sponge")
TARGETS: tuple[str, ...] = ("plate", "pot", "towel", "bowl")
CORRUPTIONS: tuple[str, ...] = ("truncated_pickle", "missing_frame", "truncated_jpeg")

# Gripper pointing straight down (the home EE frame pitched by +90 degrees about y).
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class SyntheticConfig:
    """Shape of the synthetic demonstrations."""

    # Actions per episode (observations = num_steps + 1); at least 10.
    num_steps: int = 15
    # Frame size, pixels (width, height).
    image_size: tuple[int, int] = (64, 48)
    # Control rate, steps per second (Bridge: 5).
    fps: float = 5.0
    # Standard deviation of the noise between commanded and reached positions, m.
    noise_m: float = 0.001


@dataclass(frozen=True)
class Trajectory:
    """One scripted demonstration."""

    instruction: str
    # (N, 7) reached states [x, y, z, roll, pitch, yaw, gripper]; m, rad, base frame.
    states: np.ndarray
    # (N - 1, 7) commanded actions [dx, dy, dz, droll, dpitch, dyaw, gripper].
    commanded: np.ndarray
    # N RGB frames.
    frames: list[np.ndarray]


def _render(
    size: tuple[int, int],
    gripper_m: np.ndarray,
    object_m: np.ndarray,
    target_m: np.ndarray,
    closed: bool,
) -> np.ndarray:
    """Top-down drawing: x (forward) up the image, y (left) to the left."""
    width, height = size

    def pixel(p: np.ndarray) -> tuple[float, float]:
        u = (0.25 - p[1]) / 0.45 * width
        v = (0.50 - p[0]) / 0.40 * height
        return u, v

    image = Image.new("RGB", size, (150, 120, 90))
    draw = ImageDraw.Draw(image)
    tu, tv = pixel(target_m)
    draw.ellipse([tu - 7, tv - 7, tu + 7, tv + 7], fill=(230, 230, 230))
    ou, ov = pixel(object_m)
    draw.rectangle([ou - 3, ov - 3, ou + 3, ov + 3], fill=(240, 120, 20))
    gu, gv = pixel(gripper_m)
    radius = 2 + 20 * max(0.0, float(gripper_m[2]))
    draw.ellipse(
        [gu - radius, gv - radius, gu + radius, gv + radius],
        outline=(20, 20, 20) if closed else (20, 200, 20),
        width=2,
    )
    return np.asarray(image)


def make_trajectory(rng: np.random.Generator, config: SyntheticConfig) -> Trajectory:
    """A scripted pick and place with a random object, target and layout."""
    if config.num_steps < 10:
        raise ValueError("SyntheticConfig.num_steps must be >= 10 for a pick and place")
    name = OBJECTS[int(rng.integers(len(OBJECTS)))]
    target_name = TARGETS[int(rng.integers(len(TARGETS)))]
    start = np.array([0.30, 0.0, 0.15])
    obj = np.array([rng.uniform(0.22, 0.36), rng.uniform(-0.12, 0.0), 0.02])
    target = np.array([rng.uniform(0.22, 0.36), rng.uniform(0.04, 0.15), 0.03])
    n = config.num_steps
    reach, carry = round(n * 0.35), round(n * 0.4)
    retreat = n - reach - carry - 2
    lifted = (obj + target) / 2 + np.array([0.0, 0.0, 0.10])
    waypoints = [start]
    waypoints += list(np.linspace(start, obj, reach + 1)[1:])  # reach down
    waypoints.append(obj)  # close the gripper in place
    half = carry // 2
    waypoints += list(np.linspace(obj, lifted, half + 1)[1:])
    waypoints += list(
        np.linspace(lifted, target + np.array([0.0, 0.0, 0.02]), carry - half + 1)[1:]
    )
    waypoints.append(waypoints[-1])  # open the gripper in place
    waypoints += list(
        np.linspace(waypoints[-1], waypoints[-1] + np.array([0.0, 0.0, 0.08]), retreat + 1)[1:]
    )
    desired = np.array(waypoints)
    grasp_step, release_step = reach, reach + 1 + carry
    command_gripper = np.ones(n)
    command_gripper[grasp_step:release_step] = 0.0
    reached = desired + rng.normal(0.0, config.noise_m, desired.shape)
    reached[0] = desired[0]
    measured_gripper = np.concatenate([[1.0], 0.1 + 0.85 * command_gripper])  # lags one step
    rpy = rng.normal(0.0, 0.01, (n + 1, 3))
    states = np.concatenate([reached, rpy, measured_gripper[:, None]], axis=1)
    commanded = np.concatenate(
        [np.diff(desired, axis=0), np.diff(rpy, axis=0), command_gripper[:, None]], axis=1
    )
    frames = []
    held = obj.copy()
    for t in range(n + 1):
        holding = grasp_step < t <= release_step
        if holding:
            held = reached[t].copy()
        frames.append(_render(config.image_size, reached[t], held, target, holding))
    return Trajectory(f"put the {name} on the {target_name}", states, commanded, frames)


def _jpeg(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _png(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


def write_bridge_trajectory(traj_dir: Path, trajectory: Trajectory, dict_actions: bool) -> None:
    """Write one trajectory in BridgeData V2's raw layout (``policy_out`` as dicts or arrays)."""
    (traj_dir / "images0").mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(trajectory.frames):
        (traj_dir / "images0" / f"im_{t}.jpg").write_bytes(_jpeg(frame))
    n = len(trajectory.states)
    obs = {
        "state": trajectory.states,
        "full_state": trajectory.states.copy(),
        "desired_state": trajectory.states.copy(),
        "qpos": np.zeros((n, 6)),
        "qvel": np.zeros((n, 6)),
        "time_stamp": np.arange(n) * 0.2,
        "eef_transform": np.tile(np.eye(4), (n, 1, 1)),
    }
    with (traj_dir / "obs_dict.pkl").open("wb") as f:
        pickle.dump(obs, f, protocol=2)
    actions = [np.asarray(a, dtype=np.float32) for a in trajectory.commanded]
    policy_out = [{"actions": a, "new_robot_transform": np.eye(4)} for a in actions]
    with (traj_dir / "policy_out.pkl").open("wb") as f:
        pickle.dump(policy_out if dict_actions else actions, f, protocol=4)
    with (traj_dir / "agent_data.pkl").open("wb") as f:
        pickle.dump({"traj_ok": True}, f)
    (traj_dir / "lang.txt").write_text(f"{trajectory.instruction}\nconfidence: 1\n")


def corrupt_trajectory(traj_dir: Path, kind: str) -> None:
    """Damage a written trajectory the way real recordings get damaged (see CORRUPTIONS)."""
    if kind == "truncated_pickle":
        path = traj_dir / "obs_dict.pkl"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "missing_frame":
        frames = sorted((traj_dir / "images0").glob("im_*.jpg"))
        frames[len(frames) // 2].unlink()
    elif kind == "truncated_jpeg":
        path = traj_dir / "images0" / "im_3.jpg"
        path.write_bytes(path.read_bytes()[:200])
    else:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {CORRUPTIONS}")


def write_bridge_raw(
    root: Path,
    num_episodes: int,
    seed: int = 0,
    config: SyntheticConfig | None = None,
    corrupt: dict[int, str] | None = None,
) -> list[Path]:
    """A BridgeData V2 raw tree of ``num_episodes`` trajectories under ``root``.

    ``corrupt`` maps trajectory indices to a kind of damage (see :data:`CORRUPTIONS`). Returns the
    trajectory directories.
    """
    config = config or SyntheticConfig()
    rng = np.random.default_rng(seed)
    group = Path(root) / "synthetic_kitchen" / "pick_place" / "2023-05-01_12-00-00" / "raw"
    dirs = []
    for index in range(num_episodes):
        traj_dir = group / "traj_group0" / f"traj{index}"
        write_bridge_trajectory(traj_dir, make_trajectory(rng, config), dict_actions=index % 2 == 0)
        if corrupt and index in corrupt:
            corrupt_trajectory(traj_dir, corrupt[index])
        dirs.append(traj_dir)
    return dirs


def write_mcap_bag(
    path: Path,
    num_episodes: int,
    seed: int = 0,
    config: SyntheticConfig | None = None,
    publish_hz: float = 20.0,
    *,
    compression: str = DEFAULT_COMPRESSION,
) -> list[Trajectory]:
    """A bag of ``num_episodes`` episodes as ``vlm2vla-bag record`` writes it.

    The bag is a rosbag2 MCAP directory at ``path`` (which must not exist), written by
    ``vlm2vla_policy.bags`` with the stack's QoS per topic. Each episode starts with its
    instruction; joint states (from the wx250s inverse kinematics of the trajectory, gripper down,
    fingers from the gripper state) and rgb8 images are published at ``publish_hz`` (a multiple of
    ``config.fps``) from the instruction's time on, one action chunk per second; the next
    instruction follows 1 ms after the last message. Returns the trajectories with their states
    replaced by what the forward kinematics of the published joints gives, which is what a reader
    should recover.
    """
    from vlm2vla_policy.robot import BRIDGE_NEUTRAL_JOINTS_RAD, WX250S, ArmKinematics

    config = config or SyntheticConfig()
    rng = np.random.default_rng(seed)
    kinematics = ArmKinematics(WX250S)
    per_step = round(publish_hz / config.fps)
    tick_ns = round(_NS_PER_S / (config.fps * per_step))
    names = [*WX250S.joint_names, "gripper", "left_finger", "right_finger"]
    written = []
    time_ns = 1_700_000_000 * _NS_PER_S
    with BagWriter(path, compression) as bag:
        for topic in (INSTRUCTION_TOPIC, JOINT_STATES_TOPIC, CAMERA_TOPIC, ACTION_CHUNK_TOPIC):
            bag.add_topic(topic, *STACK_TOPICS[topic])
        for _ in range(num_episodes):
            trajectory = make_trajectory(rng, config)
            bag.write(INSTRUCTION_TOPIC, messages.string(trajectory.instruction), time_ns)
            seed_joints = np.array(BRIDGE_NEUTRAL_JOINTS_RAD)
            joints = []
            for state in trajectory.states:
                target = np.eye(4)
                target[:3, :3] = GRIPPER_DOWN
                target[:3, 3] = state[:3]
                result = kinematics.ik(target, seed_joints)
                if not result.ok:
                    raise RuntimeError(f"synthetic pose {state[:3]} unreachable: {result.reason}")
                seed_joints = result.joints_rad
                joints.append(result.joints_rad)
            reached = np.array(trajectory.states)
            for t, (q, state, frame) in enumerate(
                zip(joints, trajectory.states, trajectory.frames, strict=True)
            ):
                finger = WX250S.finger_closed_m + state[6] * (
                    WX250S.finger_open_m - WX250S.finger_closed_m
                )
                reached[t, :3] = kinematics.fk(q)[:3, 3]
                positions = [*map(float, q), 0.0, finger, -finger]
                for tick in range(per_step if t < len(joints) - 1 else 1):
                    stamp = time_ns + (t * per_step + tick) * tick_ns
                    joint_state = messages.joint_state(names, positions, stamp)
                    bag.write(JOINT_STATES_TOPIC, joint_state, stamp)
                    bag.write(CAMERA_TOPIC, messages.rgb8_image(frame, stamp), stamp)
                if t % round(config.fps) == 0 and t < len(joints) - 1:
                    delta = trajectory.commanded[t]
                    chunk = messages.action_chunk(
                        stamp, WX250S.base_frame, instruction=trajectory.instruction,
                        subtask="synthetic", subtask_index=0, motion_plan="stay still",
                        translations_m=[delta[:3]], gripper=[delta[6]],
                        step_duration_s=1.0 / config.fps,
                    )  # fmt: skip
                    bag.write(ACTION_CHUNK_TOPIC, chunk, stamp)
            reached[:, 3:6] = 0.0  # the gripper points straight down: rpy 0 in Bridge's convention
            written.append(
                Trajectory(trajectory.instruction, reached, trajectory.commanded, trajectory.frames)
            )
            time_ns += (len(joints) - 1) * per_step * tick_ns + 1_000_000  # next one 1 ms later
    return written


def write_lerobot(
    root: Path,
    num_episodes: int,
    seed: int = 0,
    config: SyntheticConfig | None = None,
    version: str = "v2.1",
) -> None:
    """A LeRobot dataset: 8-D state (pad before the gripper), PNG image column.

    ``version`` "v2.1": one parquet file per episode, tasks and episodes in ``meta/*.jsonl``;
    "v3.0": every episode in one data file, ``meta/episodes`` and ``meta/tasks.parquet``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    config = config or SyntheticConfig()
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    tasks: dict[str, int] = {}
    episodes, tables = [], []
    start = 0
    for index in range(num_episodes):
        trajectory = make_trajectory(rng, config)
        task_index = tasks.setdefault(trajectory.instruction, len(tasks))
        n = len(trajectory.states)
        states = np.insert(trajectory.states, 6, 0.0, axis=1)
        actions = np.concatenate([trajectory.commanded, trajectory.commanded[-1:]], axis=0)
        tables.append(
            pa.table(
                {
                    "observation.state": [list(map(float, s)) for s in states],
                    "action": [list(map(float, a)) for a in actions],
                    "observation.images.image_0": [
                        {"bytes": _png(f), "path": None} for f in trajectory.frames
                    ],
                    "timestamp": [t / config.fps for t in range(n)],
                    "frame_index": list(range(n)),
                    "episode_index": [index] * n,
                    "index": list(range(start, start + n)),
                    "task_index": [task_index] * n,
                }
            )
        )
        episodes.append(
            {
                "episode_index": index,
                "tasks": [trajectory.instruction],
                "length": n,
                "data/chunk_index": 0,
                "data/file_index": 0,
                "dataset_from_index": start,
                "dataset_to_index": start + n,
            }
        )
        start += n
    v3 = version.startswith("v3")
    if v3:
        _write_lerobot_v3_meta(root, tables, episodes, tasks)
    else:
        for index, table in enumerate(tables):
            path = root / "data" / "chunk-000" / f"episode_{index:06d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path)
        (root / "meta" / "tasks.jsonl").write_text(
            "".join(json.dumps({"task_index": i, "task": t}) + "\n" for t, i in tasks.items())
        )
        rows = [{k: e[k] for k in ("episode_index", "tasks", "length")} for e in episodes]
        (root / "meta" / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in rows))
    width, height = config.image_size
    info = {
        "codebase_version": version,
        "robot_type": "widowx",
        "fps": config.fps,
        "total_episodes": num_episodes,
        "chunks_size": 1000,
        "data_path": (
            "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
            if v3
            else "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
        ),
        "video_path": None,
        "features": {
            "observation.state": {"dtype": "float32", "shape": [8]},
            "action": {"dtype": "float32", "shape": [7]},
            "observation.images.image_0": {"dtype": "image", "shape": [height, width, 3]},
        },
    }
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=1))


def _write_lerobot_v3_meta(
    root: Path, tables: list[Any], episodes: list[dict[str, Any]], tasks: dict[str, int]
) -> None:
    """v3 layout: one data file, the episodes' locations, the tasks table (as LeRobot does)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for folder in ("data/chunk-000", "meta/episodes/chunk-000"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables(tables), root / "data/chunk-000/file-000.parquet")
    episodes_file = root / "meta/episodes/chunk-000/file-000.parquet"
    pq.write_table(pa.Table.from_pylist(episodes), episodes_file)
    by_index = sorted(tasks.items(), key=lambda item: item[1])
    pq.write_table(
        pa.table(
            {"task_index": [i for _, i in by_index], "__index_level_0__": [t for t, _ in by_index]}
        ),
        root / "meta" / "tasks.parquet",
    )


def expected_actions(trajectory: Trajectory, threshold: float = 0.5) -> np.ndarray:
    """The actions a reader should recompute for ``trajectory`` (states differences)."""
    return recompute_actions(trajectory.states, trajectory.commanded[:, 6], threshold)
