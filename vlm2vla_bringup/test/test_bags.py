"""MCAP bag tools: file format, and record/play as real processes over DDS."""

import subprocess
import time
from pathlib import Path

import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rclpy.qos import DurabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.interfaces import QosHistory
from sensor_msgs.msg import Image
from std_msgs.msg import String

from vlm2vla_bringup.bags.ros_qos import playback_qos, recorded_qos
from vlm2vla_bringup.bags.sample import CAMERA_TOPIC, INSTRUCTION_TOPIC, write_sample_bag
from vlm2vla_bringup.bags.types import message_class
from vlm2vla_policy.bags import BagReader, BagWriter, UnknownMessageTypeError, read_bag
from vlm2vla_policy.bags import qos as bag_qos
from vlm2vla_policy.nodes import qos as node_qos
from vlm2vla_policy.processes import stop_process


def decode(message):
    return deserialize_message(message.data, message_class(message.type_name))


@pytest.fixture
def sample_bag(tmp_path: Path) -> Path:
    return write_sample_bag(tmp_path / "sample", "pick up the red block", seconds=4.0)


def test_sample_bag_is_rosbag2_shaped_and_decodes_with_its_own_schemas(sample_bag):
    assert (sample_bag / "metadata.yaml").exists()
    assert {t: i.type_name for t, i in BagReader(sample_bag).topics.items()} == {
        CAMERA_TOPIC: "sensor_msgs/msg/Image",
        INSTRUCTION_TOPIC: "std_msgs/msg/String",
    }
    with (sample_bag / "sample_0.mcap").open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        decoded = list(reader.iter_decoded_messages())
    assert decoded[0][1].message_encoding == "cdr"
    assert decoded[0][0].encoding == "ros2msg"
    assert decoded[0][3].data == "pick up the red block"
    image = decoded[1][3]
    assert (image.width, image.height, image.encoding) == (128, 128, "rgb8")
    assert len(image.data) == image.step * image.height


def test_reader_selects_topics_and_skips_the_start_offset(sample_bag):
    frames = list(read_bag(sample_bag, [CAMERA_TOPIC]))
    assert len(frames) == 20
    assert {m.topic for m in frames} == {CAMERA_TOPIC}
    later = list(read_bag(sample_bag, [CAMERA_TOPIC], start_offset_s=2.0))
    assert 0 < len(later) < len(frames)


def test_writer_refuses_undeclared_topics_unknown_types_and_existing_dirs(tmp_path):
    with BagWriter(tmp_path / "bag") as bag:
        with pytest.raises(KeyError, match="add_topic"):
            bag.write("/x", b"", 0)
        with pytest.raises(UnknownMessageTypeError, match="no_such_pkg"):
            bag.add_topic("/y", "no_such_pkg/msg/Thing")
    with pytest.raises(FileExistsError):
        BagWriter(tmp_path / "bag")
    with pytest.raises(ValueError, match="--compression"):
        BagWriter(tmp_path / "other", compression="gzip")


def test_record_captures_what_play_publishes(sample_bag, tmp_path):
    out = tmp_path / "recorded"
    recorder = subprocess.Popen(
        ["vlm2vla-bag", "record", "-o", str(out), CAMERA_TOPIC, INSTRUCTION_TOPIC,
         "--duration", "12"]
    )  # fmt: skip
    time.sleep(2.0)
    player = subprocess.run(
        ["vlm2vla-bag", "play", str(sample_bag), "--rate", "2", "--delay", "2"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "published 21 messages" in player.stdout
    assert recorder.wait(timeout=30) == 0
    stop_process(recorder)
    recorded = [decode(m) for m in read_bag(out)]
    originals = [decode(m) for m in read_bag(sample_bag)]
    frames = [m for m in recorded if isinstance(m, Image)]
    assert len(frames) >= 15, f"only {len(frames)} of 20 frames recorded"
    # The wire form may add CDR alignment padding; the messages must be equal.
    assert all(m in originals for m in recorded), "a recorded message differs from the published"
    assert String(data="pick up the red block") in recorded
    offered = BagReader(out).topics[INSTRUCTION_TOPIC].offered_qos
    assert offered and all(q.durability.name == "TRANSIENT_LOCAL" for q in offered), "play latches"


def test_bag_profiles_are_the_stack_publishers_and_play_keeps_them():
    for name in ("SENSOR", "LATCHED", "STATUS", "RELIABLE"):
        offered = recorded_qos(getattr(node_qos, name))
        expected = getattr(bag_qos, name)
        assert (offered.history, offered.depth, offered.reliability, offered.durability) == (
            expected.history, expected.depth, expected.reliability, expected.durability,
        ), name  # fmt: skip
    played = playback_qos([bag_qos.LATCHED], node_qos.RELIABLE)
    assert (played.depth, played.durability) == (1, DurabilityPolicy.TRANSIENT_LOCAL)
    discovered = bag_qos.LATCHED._replace(history=QosHistory.UNKNOWN, depth=0)
    assert playback_qos([discovered], node_qos.LATCHED).depth == node_qos.LATCHED.depth
    mixed = [bag_qos.LATCHED, bag_qos.RELIABLE]
    assert playback_qos(mixed, node_qos.SENSOR) is node_qos.SENSOR
