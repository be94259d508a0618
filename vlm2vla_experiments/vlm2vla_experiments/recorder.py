"""Save expert episodes where ``vlm2vla-train convert`` reads them: BridgeData-raw trees and MCAP.

BridgeData raw (reader ``bridge_raw``): ``<out>/<task_slug>/raw/traj_group0/traj<seed>/`` with
``images0/im_<t>.jpg``, ``obs_dict.pkl`` (``state`` = [x, y, z, roll, pitch, yaw, gripper] of
``ee_gripper_link`` in ``wx250s/base_link``, computed from the joints by the same function the
MCAP reader uses; ``qpos``, ``qvel``, ``eef_transform``, ``desired_state`` (the commanded target),
``time_stamp``), ``policy_out.pkl`` (one dict per step with ``actions`` = [dx, dy, dz, 0, 0, 0,
gripper], the commanded target's move in that step), ``agent_data.pkl`` and ``lang.txt``.
(vlm2vla_training.synthetic's Bridge writer fills ``qpos`` with zeros and ``eef_transform`` with
identities, so this one writes the layout itself, with the recorded values.)

MCAP (reader ``mcap``): one rosbag2 directory per episode, ``<out>/<task_slug>/episode_<seed>/``,
with the instruction (``/vlm2vla/instruction``), joint states and rgb8 camera frames at every
control period (5 Hz), each expert chunk as ``vlm2vla_msgs/ActionChunk`` on
``/vlm2vla/action_chunk``, and an empty instruction that ends the episode; each topic with the QoS
the stack publishes it with. Written by ``vlm2vla_policy.bags`` (no ROS needed; the
``vlm2vla_msgs`` definitions come from its ``.msg`` files).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from vlm2vla_policy.bags import DEFAULT_COMPRESSION, STACK_TOPICS, BagWriter, messages
from vlm2vla_policy.bags.qos import (
    ACTION_CHUNK_TOPIC,
    CAMERA_TOPIC,
    INSTRUCTION_TOPIC,
    JOINT_STATES_TOPIC,
)
from vlm2vla_policy.robot import WX250S, ArmKinematics
from vlm2vla_policy.robot.bridge_state import KinematicEEState, bridge_rpy
from vlm2vla_sim.linkage import GripperLinkage
from vlm2vla_sim.rollout import ExpertEpisode
from vlm2vla_sim.tasks import Task

FORMATS = ("bridge", "mcap")
JPEG_QUALITY = 95  # quality of the stored frames (1-95)
START_NS = 1_700_000_000_000_000_000  # log time of every episode's instruction, ns since epoch
CHUNK_OFFSET_NS = 1_000  # a chunk is logged this long after the observation it follows, ns
END_OFFSET_NS = 1_000_000  # the empty instruction follows the last observation by this, ns
# Gripper pointing straight down: Bridge's orientation reference for roll, pitch and yaw.


def joint_state_names() -> list[str]:
    """Names of the recorded joint states, as the driver publishes them."""
    return [*WX250S.joint_names, "gripper", "left_finger", "right_finger"]


def joint_state_positions(joints_rad: np.ndarray, finger_m: float) -> list[float]:
    """Positions matching :func:`joint_state_names`: arm rad, gripper servo rad, fingers m."""
    gripper_rad = GripperLinkage().angle_rad(finger_m)
    return [*map(float, joints_rad), gripper_rad, float(finger_m), -float(finger_m)]


def ee_states(episode: ExpertEpisode) -> np.ndarray:
    """(N, 7) Bridge states of the observations, as the MCAP reader computes them."""
    to_state = KinematicEEState(WX250S)
    names = joint_state_names()
    return np.array([
        to_state(names, joint_state_positions(q, f))
        for q, f in zip(episode.joints_rad, episode.finger_m, strict=True)
    ])  # fmt: skip


def _desired_states(episode: ExpertEpisode) -> np.ndarray:
    rows = []
    gripper = [1.0, *episode.gripper]  # the command in force at each observation
    for target, command in zip(episode.targets, gripper, strict=True):
        roll, pitch, yaw = bridge_rpy(target[:3, :3])
        rows.append([*target[:3, 3], roll, pitch, yaw, command])
    return np.array(rows)


def _jpeg(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def write_bridge_episode(traj_dir: Path, episode: ExpertEpisode) -> Path:
    """Write ``episode`` as one BridgeData raw trajectory directory; return it."""
    if len(episode.frames) != len(episode.joints_rad):
        raise ValueError(
            f"episode has {len(episode.frames)} frames for {len(episode.joints_rad)} observations; "
            "record it with RolloutConfig(render=True)"
        )
    (traj_dir / "images0").mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(episode.frames):
        (traj_dir / "images0" / f"im_{t}.jpg").write_bytes(_jpeg(frame))
    kinematics = ArmKinematics(WX250S)
    states = ee_states(episode)
    obs = {
        "state": states,
        "full_state": states.copy(),
        "desired_state": _desired_states(episode),
        "qpos": np.array(episode.joints_rad),
        "qvel": np.array(episode.joint_velocities_rad_s),
        "eef_transform": np.array([kinematics.fk(q) for q in episode.joints_rad]),
        "time_stamp": np.array(episode.times_s),
    }
    with (traj_dir / "obs_dict.pkl").open("wb") as f:
        pickle.dump(obs, f, protocol=4)
    actions = [
        {"actions": np.array([*move, 0.0, 0.0, 0.0, gripper], dtype=np.float32)}
        for move, gripper in zip(episode.translations_m, episode.gripper, strict=True)
    ]
    with (traj_dir / "policy_out.pkl").open("wb") as f:
        pickle.dump(actions, f, protocol=4)
    with (traj_dir / "agent_data.pkl").open("wb") as f:
        agent = {"traj_ok": episode.success, "seed": episode.seed, "source": "vlm2vla_sim expert"}
        pickle.dump(agent, f, protocol=4)
    (traj_dir / "lang.txt").write_text(f"{episode.task.instruction}\nconfidence: 1\n")
    return traj_dir


def bridge_traj_dir(out: Path, task: Task, seed: int) -> Path:
    """Where the Bridge trajectory of ``task`` at ``seed`` goes under ``out``."""
    return Path(out) / task.slug / "raw" / "traj_group0" / f"traj{seed}"


def write_mcap_episode(
    bag_dir: Path, episode: ExpertEpisode, period_s: float, compression: str = DEFAULT_COMPRESSION
) -> Path:
    """Write ``episode`` as a rosbag2 MCAP bag at ``bag_dir`` (must not exist); return it."""
    from vlm2vla_policy.language import format_plan, plan_from_steps

    if len(episode.frames) != len(episode.joints_rad):
        raise ValueError("an MCAP episode needs a frame per observation; record with render=True")
    period_ns = round(period_s * 1e9)
    names = joint_state_names()
    instruction = episode.task.instruction
    with BagWriter(bag_dir, compression) as bag:
        for topic in (INSTRUCTION_TOPIC, JOINT_STATES_TOPIC, CAMERA_TOPIC, ACTION_CHUNK_TOPIC):
            bag.add_topic(topic, *STACK_TOPICS[topic])
        bag.write(INSTRUCTION_TOPIC, messages.string(instruction), START_NS)
        for t, (q, finger, frame) in enumerate(
            zip(episode.joints_rad, episode.finger_m, episode.frames, strict=True)
        ):
            stamp_ns = START_NS + t * period_ns
            state = messages.joint_state(names, joint_state_positions(q, finger), stamp_ns)
            bag.write(JOINT_STATES_TOPIC, state, stamp_ns)
            bag.write(CAMERA_TOPIC, messages.rgb8_image(frame, stamp_ns), stamp_ns)
        gripper_before = 1.0
        subtasks = list(dict.fromkeys(chunk.subtask for _, chunk in episode.chunks))
        for first_action, chunk in episode.chunks:
            stamp_ns = START_NS + first_action * period_ns + CHUNK_OFFSET_NS
            msg = messages.action_chunk(
                stamp_ns, WX250S.base_frame, instruction=instruction, subtask=chunk.subtask,
                subtask_index=subtasks.index(chunk.subtask),
                motion_plan=format_plan(plan_from_steps(chunk.steps, gripper_before)),
                translations_m=[s[:3] for s in chunk.steps],
                gripper=[float(s[3]) for s in chunk.steps], step_duration_s=period_s,
            )  # fmt: skip
            bag.write(ACTION_CHUNK_TOPIC, msg, stamp_ns)
            gripper_before = float(chunk.steps[-1][3])
        end_ns = START_NS + (len(episode.joints_rad) - 1) * period_ns + END_OFFSET_NS
        bag.write(INSTRUCTION_TOPIC, messages.string(""), end_ns)
    return bag_dir


def mcap_bag_dir(out: Path, task: Task, seed: int) -> Path:
    """Where the MCAP bag of ``task`` at ``seed`` goes under ``out``."""
    return Path(out) / task.slug / f"episode_{seed}"
