"""Record topics of the ROS graph into an MCAP bag (``vlm2vla-bag record``).

Subscribes serialized (no deserialisation cost), discovers each topic's type from the graph, and
matches the publishers' QoS like rosbag2 does: transient local when every publisher is latched,
best effort when any publisher is best effort. The bag records each topic's offered QoS profiles
(those of its publishers when it was subscribed), so ``ros2 bag play`` and ``vlm2vla-bag play``
republish a latched topic latched. The file layer is ``vlm2vla_policy.bags``.
"""

import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from vlm2vla_bringup.bags.ros_qos import recorded_qos
from vlm2vla_bringup.bags.types import message_class
from vlm2vla_policy.bags import DEFAULT_COMPRESSION, BagWriter


def subscription_qos(node: Node, topic: str) -> QoSProfile:
    """A QoS profile compatible with every current publisher of ``topic``."""
    infos = node.get_publishers_info_by_topic(topic)
    latched = bool(infos) and all(
        i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos
    )
    best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
    return QoSProfile(
        depth=100,
        reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


class Recorder:
    """Subscribe ``topics`` on ``node`` as they appear and write every message to ``bag``."""

    def __init__(self, node: Node, bag: BagWriter, topics: list[str]) -> None:
        """Start recording; topics not yet on the graph are picked up by ``discover``."""
        self.node = node
        self.bag = bag
        self.pending = list(topics)
        self.count = 0
        self._subscriptions = []
        self.discover()

    def discover(self) -> None:
        """Subscribe every pending topic that now has a publisher with a known type."""
        known = dict(self.node.get_topic_names_and_types())
        for topic in list(self.pending):
            types = known.get(topic)
            publishers = self.node.get_publishers_info_by_topic(topic)
            if not types or not publishers:
                continue
            type_name = types[0]
            self.bag.add_topic(topic, type_name, [recorded_qos(p.qos_profile) for p in publishers])
            self._subscriptions.append(
                self.node.create_subscription(
                    message_class(type_name),
                    topic,
                    lambda data, topic=topic: self._on_message(topic, data),
                    subscription_qos(self.node, topic),
                    raw=True,
                )
            )
            self.pending.remove(topic)
            self.node.get_logger().info(f"recording {topic} ({type_name})")

    def _on_message(self, topic: str, data: bytes) -> None:
        self.bag.write(topic, data, time.time_ns())
        self.count += 1


def record(
    node: Node,
    output: str | Path,
    topics: list[str],
    duration_s: float | None,
    compression: str = DEFAULT_COMPRESSION,
) -> int:
    """Record ``topics`` into the new bag ``output`` until ``duration_s`` or Ctrl-C."""
    end = None if duration_s is None else time.monotonic() + duration_s
    with BagWriter(output, compression) as bag:
        recorder = Recorder(node, bag, topics)
        discover_timer = node.create_timer(0.5, recorder.discover)
        try:
            while rclpy.ok() and (end is None or time.monotonic() < end):
                rclpy.spin_once(node, timeout_sec=0.1)
        except KeyboardInterrupt:
            pass
        finally:
            node.destroy_timer(discover_timer)
        return recorder.count
