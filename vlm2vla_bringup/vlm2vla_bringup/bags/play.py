"""Publish a bag's messages on the ROS graph with their recorded timing (``vlm2vla-bag play``).

Like ``ros2 bag play``: rate scaling, looping, topic selection, a start offset and topic remaps.
Messages are published serialized, exactly as recorded. Each topic is published with its recorded
QoS (reliability, durability; ``ros_qos.playback_qos``), else with the stack's conventions
(``vlm2vla_policy.nodes.qos``): camera images as sensor data, the instruction latched.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.node import Node

from vlm2vla_bringup.bags.ros_qos import playback_qos
from vlm2vla_bringup.bags.types import message_class
from vlm2vla_policy.bags import BagReader
from vlm2vla_policy.nodes.qos import PROFILES, profile_name_for_type


@dataclass(frozen=True)
class PlayOptions:
    """How to play a bag."""

    rate: float = 1.0  # playback speed factor (2.0 = twice as fast)
    loop: bool = False  # start again at the end, until interrupted
    topics: tuple[str, ...] = ()  # only these topics; empty = all
    start_offset_s: float = 0.0  # skip this many seconds from the bag's start
    remaps: dict[str, str] = field(default_factory=dict)  # recorded topic -> published topic
    delay_s: float = 0.0  # wait after creating publishers, so subscribers can match first

    def __post_init__(self) -> None:
        """Reject a non-positive rate or a negative offset."""
        if self.rate <= 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")
        if self.delay_s < 0:
            raise ValueError(f"delay must be >= 0 s, got {self.delay_s}")
        if self.start_offset_s < 0:
            raise ValueError(f"start offset must be >= 0 s, got {self.start_offset_s}")


def play(node: Node, bag: str | Path, options: PlayOptions) -> int:
    """Publish the bag from ``node``; return the number of messages published."""
    reader = BagReader(bag)
    topics = reader.topics
    wanted = list(options.topics) or list(topics)
    missing = [t for t in wanted if t not in topics]
    if missing:
        raise KeyError(f"topics {missing} are not in {bag}; it has {sorted(topics)}")
    publishers = {
        topic: node.create_publisher(
            message_class(topics[topic].type_name),
            options.remaps.get(topic, topic),
            playback_qos(
                topics[topic].offered_qos,
                PROFILES[profile_name_for_type(topics[topic].type_name)],
            ),
        )
        for topic in wanted
    }
    time.sleep(options.delay_s)
    published = 0
    while True:
        start_wall = time.monotonic()
        first_ns = None
        for message in reader.messages(wanted, options.start_offset_s):
            first_ns = message.log_time_ns if first_ns is None else first_ns
            due = start_wall + (message.log_time_ns - first_ns) / 1e9 / options.rate
            time.sleep(max(0.0, due - time.monotonic()))
            publishers[message.topic].publish(message.data)
            published += 1
        if not options.loop:
            return published
