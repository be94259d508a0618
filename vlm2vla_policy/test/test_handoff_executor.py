"""HandoffExecutor submits each ready callback once, where Jazzy's MultiThreadedExecutor storms.

A node with a 50 Hz timer whose callback does GIL-releasing numpy work spins for a second; the
thread pool's submit calls are counted. The stock executor resubmits a task while it is queued
(ros2/rclpy#1452): here about two submits per callback; in controller_node, with more entities
and processes on 2 cores, thousands per second (the lease lapsed mid-chunk).
"""

import threading
import time

import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from vlm2vla_policy.nodes.handoff_executor import HandoffExecutor

SPIN_S = 1.0
TIMER_HZ = 50.0


def submits_per_callback(make_executor) -> tuple[int, int]:
    """Spin ``make_executor()`` for SPIN_S with a busy 50 Hz timer; (pool submits, callbacks)."""
    rclpy.init()
    executor = make_executor()
    node = Node("handoff_test")
    ran = []
    matrix = np.random.default_rng(0).standard_normal((200, 200))

    def tick() -> None:
        for _ in range(20):
            matrix @ matrix  # releases the GIL, like the controller's kinematics
        ran.append(time.monotonic())

    node.create_timer(1.0 / TIMER_HZ, tick)
    submits = []
    pool_submit = executor._executor.submit

    def counting_submit(fn, *args):
        submits.append(time.monotonic())
        return pool_submit(fn, *args)

    executor._executor.submit = counting_submit
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    time.sleep(SPIN_S)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    spinner.join(5.0)
    return len(submits), len(ran)


def test_each_callback_is_submitted_about_once():
    submits, ran = submits_per_callback(lambda: HandoffExecutor(num_threads=4))
    assert ran >= 0.5 * SPIN_S * TIMER_HZ, f"only {ran} timer callbacks ran in {SPIN_S} s"
    assert submits <= 1.2 * ran + 5, f"{submits} submits for {ran} callbacks"


def test_stock_executor_resubmits_queued_tasks():
    """The defect HandoffExecutor exists for; if rclpy fixes it, this fails: drop the class."""
    submits, ran = submits_per_callback(lambda: MultiThreadedExecutor(num_threads=4))
    assert submits >= 1.5 * ran, f"stock rclpy submitted {submits} times for {ran} callbacks"
