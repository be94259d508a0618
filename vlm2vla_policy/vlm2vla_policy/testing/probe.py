"""A test's own ROS node, spun in a background thread, and stopped in an order that cannot hang.

Every test that watches a graph uses :class:`SpinningNode` (or :func:`spinning_node`), not its
own ``executor.spin`` thread: rclpy's ``Executor.shutdown`` destroys the executor's guard
condition without waiting for a ``spin`` running in another thread, and ``destroy_node`` and
``rclpy.shutdown`` then race that thread's wait set (rclpy issues #205, #968). Here the thread
spins in short steps and is joined before anything is destroyed.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

STEP_S = 0.05  # longest wait of one spin step, s: how soon the thread sees the stop
JOIN_S = 10.0  # longest wait for the running callback to finish when stopping, s


class SpinningNode:
    """rclpy initialised, a node named ``name`` and a thread spinning it until :meth:`close`."""

    def __init__(self, name: str) -> None:
        rclpy.init()
        self.node = Node(name)
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=f"spin {name}", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and rclpy.ok():
            self._executor.spin_once(timeout_sec=STEP_S)

    def close(self) -> None:
        """Stop the thread (waiting for its callback), then the executor, node and rclpy."""
        self._stop.set()
        self._thread.join(JOIN_S)
        if self._thread.is_alive():  # shut rclpy down all the same: the next test inits it
            rclpy.try_shutdown()
            raise RuntimeError(f"a callback of {self.node.get_name()} ran {JOIN_S} s past close")
        self._executor.shutdown(timeout_sec=JOIN_S)
        self.node.destroy_node()
        rclpy.try_shutdown()


@contextmanager
def spinning_node(name: str) -> Iterator[Node]:
    """A :class:`SpinningNode`'s node for the ``with`` block; closed afterwards."""
    spinning = SpinningNode(name)
    try:
        yield spinning.node
    finally:
        spinning.close()
