"""Every kind of bag the project writes reads back with rosbags, an independent rosbag2 reader.

The sample bag (``vlm2vla-bag sample``), a recording of a live publisher over DDS
(``vlm2vla-bag record``), a simulator demonstration (``vlm2vla-sim-record --format mcap``) and a
synthetic training bag, each through ``rosbags.rosbag2.Reader`` and a typestore built from the
definitions the bag stores: every message decodes, counts match ``metadata.yaml``, the latched
instruction was recorded transient local, and the values are the ones written. Schemas and type
hashes are checked against the installed interface files, rebuilt the way rosbag2 does.
"""

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import bag_publisher
import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from rosbags.interfaces import QosDurability, QosReliability
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from vlm2vla_bringup.bags.sample import START_NS, tabletop_frame
from vlm2vla_experiments.recorder import joint_state_positions
from vlm2vla_policy.processes import stop_process
from vlm2vla_policy.robot import WX250S, ArmKinematics
from vlm2vla_sim import RolloutConfig, SimConfig, WidowXSim, parse_task, run_episode
from vlm2vla_training import synthetic

INSTRUCTION = "/vlm2vla/instruction"
CAMERA = "/camera/image_raw"
JOINTS = "/wx250s/joint_states"
CHUNKS = "/vlm2vla/action_chunk"
TASK = "pick up the block"
SEPARATOR = "=" * 80


class RosbagsView:
    """A bag as rosbags reads it: metadata.yaml, connections and every message decoded."""

    def __init__(self, path: Path) -> None:
        self.metadata = yaml.safe_load((path / "metadata.yaml").read_text())
        self.metadata = self.metadata["rosbag2_bagfile_information"]
        store = get_typestore(Stores.ROS2_JAZZY)
        with Reader(path) as reader:
            self.connections = {c.topic: c for c in reader.connections}
            self.messages: dict[str, list] = {topic: [] for topic in self.connections}
            for connection in reader.connections:
                if connection.msgtype not in store.fielddefs:
                    store.register(get_types_from_msg(connection.msgdef.data, connection.msgtype))
            for connection, _, raw in reader.messages():
                decoded = store.deserialize_cdr(raw, connection.msgtype)
                self.messages[connection.topic].append(decoded)
            self.total = reader.message_count

    def check(self) -> None:
        """Counts equal metadata.yaml; the instruction is latched, the camera best effort."""
        counts = {
            t["topic_metadata"]["name"]: t["message_count"]
            for t in self.metadata["topics_with_message_count"]
        }
        assert counts == {topic: len(msgs) for topic, msgs in self.messages.items()}
        assert sum(len(m) for m in self.messages.values()) == self.total
        assert self.total == self.metadata["message_count"] > 0
        assert self.metadata["version"] == 9 and self.metadata["storage_identifier"] == "mcap"
        latched = self.connections[INSTRUCTION].ext.offered_qos_profiles
        assert latched and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in latched)
        assert all(q.reliability == QosReliability.RELIABLE for q in latched)
        yaml_qos = {t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"]
                    for t in self.metadata["topics_with_message_count"]}  # fmt: skip
        assert {q["durability"] for q in yaml_qos[INSTRUCTION]} == {"transient_local"}
        if CAMERA in self.connections:
            camera = self.connections[CAMERA].ext.offered_qos_profiles
            assert camera and all(q.reliability == QosReliability.BEST_EFFORT for q in camera)
        for connection in self.connections.values():
            assert connection.digest == installed_hash(connection.msgtype), connection.msgtype
            assert connection.msgdef.data == rosbag2_definition(connection.msgtype)

    def image(self, msg) -> np.ndarray:
        return np.asarray(msg.data, np.uint8).reshape(msg.height, msg.width, 3)


def share_file(type_name: str, suffix: str) -> Path:
    pkg, kind, name = type_name.split("/")
    for prefix in filter(None, os.environ["AMENT_PREFIX_PATH"].split(os.pathsep)):
        path = Path(prefix) / "share" / pkg / kind / f"{name}{suffix}"
        if path.is_file():
            return path
    pytest.skip(f"{type_name}{suffix} is not installed on AMENT_PREFIX_PATH")


def installed_hash(type_name: str) -> str:
    """The RIHS01 hash the interface package installed (rosidl's .json)."""
    data = json.loads(share_file(type_name, ".json").read_text())
    return data["type_hashes"][0]["hash_string"]


def rosbag2_definition(type_name: str) -> str:
    """The schema rosbag2's LocalMessageDefinitionSource builds from the installed .msg files."""
    primitive = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16",
                 "uint16", "int32", "uint32", "int64", "uint64", "string"}  # fmt: skip
    field = re.compile(r"(?:^|\n)\s*([a-zA-Z0-9_/]+)(?:\[[^\]]*\])?\s+")
    seen: set[str] = set()

    def text_of(name: str) -> str:
        pkg = name.split("/", maxsplit=1)[0]
        text = share_file(name, ".msg").read_text()
        deps = {m if "/" in m else f"{pkg}/{m}" for m in field.findall(text) if m not in primitive}
        for dep in sorted(deps):
            if dep not in seen:
                seen.add(dep)
                dep_pkg, dep_name = dep.split("/")
                text += f"\n{SEPARATOR}\nMSG: {dep}\n" + text_of(f"{dep_pkg}/msg/{dep_name}")
        return text

    return text_of(type_name)


def chunk_compressions(bag: Path) -> set[str]:
    (mcap_file,) = bag.glob("*.mcap")
    with mcap_file.open("rb") as stream:
        return {c.compression for c in make_reader(stream).get_summary().chunk_indexes}


def run(argv: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("compression", ["none", "zstd", "lz4"])
def test_sample_bag_round_trips_with_each_compression(tmp_path, compression):
    bag = tmp_path / "sample"
    run(["vlm2vla-bag", "sample", str(bag), "--instruction", "stack the cups", "--seconds", "2",
         "--compression", compression])  # fmt: skip
    assert chunk_compressions(bag) == {"" if compression == "none" else compression}
    view = RosbagsView(bag)
    view.check()
    assert [m.data for m in view.messages[INSTRUCTION]] == ["stack the cups"]
    frames = view.messages[CAMERA]
    assert len(frames) == 10
    for i, msg in enumerate(frames):
        np.testing.assert_array_equal(view.image(msg), tabletop_frame(i / 5.0, 128))
        stamp = START_NS + int(i * 1e9 / 5.0) + 1
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(stamp, 1_000_000_000)
        assert msg.encoding == "rgb8" and msg.step == 128 * 3


def test_recording_of_a_live_publisher_reads_with_rosbags(tmp_path):
    bag = tmp_path / "recorded"
    recorder = subprocess.Popen(
        ["vlm2vla-bag", "record", "-o", str(bag), INSTRUCTION, JOINTS, CAMERA, CHUNKS,
         "--duration", "60", "--compression", "none"]
    )  # fmt: skip
    try:
        publisher = subprocess.run(
            [sys.executable, bag_publisher.__file__], timeout=90, check=False
        )
        assert publisher.returncode == 0
        time.sleep(1.0)
    finally:
        stop_process(recorder)
    assert chunk_compressions(bag) == {""}
    view = RosbagsView(bag)
    view.check()
    assert [m.data for m in view.messages[INSTRUCTION]] == [bag_publisher.INSTRUCTION]
    states = view.messages[JOINTS]
    assert len(states) >= bag_publisher.COUNT // 2, f"only {len(states)} joint states recorded"
    for msg in states:
        index = bag_publisher.index_of(msg.header.stamp.sec, msg.header.stamp.nanosec)
        assert list(msg.name) == bag_publisher.JOINTS
        np.testing.assert_allclose(
            msg.position, bag_publisher.expected_positions(index), atol=1e-12
        )
    assert len(view.messages[CAMERA]) >= bag_publisher.COUNT // 2
    for msg in view.messages[CAMERA]:
        index = bag_publisher.index_of(msg.header.stamp.sec, msg.header.stamp.nanosec)
        np.testing.assert_array_equal(view.image(msg), bag_publisher.expected_frame(index))
    (chunk,) = view.messages[CHUNKS]
    steps = np.array([[v.x, v.y, v.z] for v in chunk.translations_m])
    np.testing.assert_allclose(steps, np.array(bag_publisher.CHUNK_STEPS)[:, :3], atol=1e-12)
    np.testing.assert_allclose(chunk.gripper, [s[3] for s in bag_publisher.CHUNK_STEPS], atol=1e-6)
    assert chunk.subtask == "reach the block" and chunk.instruction == bag_publisher.INSTRUCTION


def test_sim_recording_reads_with_rosbags(tmp_path, egl_renderer_works):
    out = tmp_path / "sim"
    run(["vlm2vla-sim-record", "--task", TASK, "--episodes", "1", "--out", str(out), "--format",
         "mcap", "--width", "64", "--height", "48", "--compression", "lz4"])  # fmt: skip
    (bag,) = out.glob("*/episode_*")
    assert chunk_compressions(bag) == {"lz4"}
    view = RosbagsView(bag)
    view.check()
    base = SimConfig()
    sim = WidowXSim(replace(base, camera=replace(base.camera, width=64, height=48)))
    try:
        seed = int(bag.name.removeprefix("episode_"))
        episode = run_episode(sim, parse_task(TASK), seed, RolloutConfig(render=True))
    finally:
        sim.close()
    assert [m.data for m in view.messages[INSTRUCTION]] == [TASK, ""]
    states, images = view.messages[JOINTS], view.messages[CAMERA]
    assert len(states) == len(images) == len(episode.joints_rad)
    for msg, q, finger in zip(states, episode.joints_rad, episode.finger_m, strict=True):
        np.testing.assert_allclose(msg.position, joint_state_positions(q, finger), atol=1e-9)
    for msg, frame in zip(images, episode.frames, strict=True):
        np.testing.assert_allclose(view.image(msg), frame, atol=2)  # rendered in another process
    chunks = view.messages[CHUNKS]
    assert len(chunks) == len(episode.chunks)
    for msg, (_, chunk) in zip(chunks, episode.chunks, strict=True):
        assert msg.subtask == chunk.subtask
        steps = np.array([[v.x, v.y, v.z] for v in msg.translations_m])
        np.testing.assert_allclose(steps, np.array(chunk.steps)[:, :3], atol=1e-12)
        np.testing.assert_allclose(msg.gripper, np.array(chunk.steps)[:, 3], atol=1e-6)


def test_synthetic_training_bag_reads_with_rosbags(tmp_path):
    config = synthetic.SyntheticConfig(num_steps=12)
    bag = tmp_path / "synthetic"
    trajectories = synthetic.write_mcap_bag(bag, 2, seed=3, config=config)
    assert chunk_compressions(bag) == {"zstd"}
    view = RosbagsView(bag)
    view.check()
    instructions = [m.data for m in view.messages[INSTRUCTION]]
    assert instructions == [t.instruction for t in trajectories]
    kinematics = ArmKinematics(WX250S)
    states = iter(view.messages[JOINTS])
    images = iter(view.messages[CAMERA])
    per_step = 4  # write_mcap_bag's default 20 Hz over the trajectories' 5 Hz
    for trajectory in trajectories:
        for t, (state, frame) in enumerate(zip(trajectory.states, trajectory.frames, strict=True)):
            for _ in range(per_step if t < len(trajectory.states) - 1 else 1):
                msg = next(states)
                position = kinematics.fk(np.asarray(msg.position[:6]))[:3, 3]
                np.testing.assert_allclose(position, state[:3], atol=1e-9)
                np.testing.assert_array_equal(view.image(next(images)), frame)
    assert next(states, None) is None and next(images, None) is None
    assert len(view.messages[CHUNKS]) == 2 * 3


def test_the_library_needs_no_ros_graph_nor_installed_interfaces(tmp_path):
    code = f"""
import sys
from vlm2vla_policy.bags import STACK_TOPICS, BagReader, BagWriter, messages
with BagWriter({str(tmp_path / "bag")!r}) as bag:
    bag.add_topic("/vlm2vla/action_chunk", *STACK_TOPICS["/vlm2vla/action_chunk"])
    bag.write("/vlm2vla/action_chunk", messages.action_chunk(
        5, "base", instruction="i", subtask="s", subtask_index=0, motion_plan="m",
        translations_m=[(0.1, 0.2, 0.3)], gripper=[1.0], step_duration_s=0.2), 5)
((message, chunk),) = BagReader({str(tmp_path / "bag")!r}).decoded()
assert abs(chunk.translations_m[0].z - 0.3) < 1e-12 and message.log_time_ns == 5
assert "rclpy" not in sys.modules
"""
    env = {**os.environ, "AMENT_PREFIX_PATH": ""}  # vlm2vla_msgs from this source tree's .msg
    run([sys.executable, "-c", code], env)
    assert RosbagsView(tmp_path / "bag").messages[CHUNKS][0].subtask == "s"
