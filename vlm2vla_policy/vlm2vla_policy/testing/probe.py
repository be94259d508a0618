"""A test's own ROS node, spun in a background thread for as long as a ``with`` block lasts."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


@contextmanager
def spinning_node(name: str) -> Iterator[Node]:
    """Init rclpy, yield a node named ``name`` that a background executor spins, tear down."""
    rclpy.init()
    node = Node(name)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        yield node
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
