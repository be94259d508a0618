"""ThreadSafeActionClient keeps every response that Jazzy's ActionClient loses to the executor.

A real action server refuses each goal at once (as controller_node refuses a too-long chunk).
The client's handle is wrapped to pause 50 ms after sending a result request, which widens the
window between the send and the client recording the request: the executor thread takes the
response inside that window. Stock rclpy then ignores the response ("Ignoring unexpected result
response") and the future never completes; ThreadSafeActionClient matches it.
"""

import threading
import time

import pytest
import rclpy
from rclpy.action import ActionClient, ActionServer, GoalResponse
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from vlm2vla_msgs.action import ExecuteChunk
from vlm2vla_policy.nodes.action_client import ThreadSafeActionClient

PAUSE_S = 0.05


class PausingHandle:
    """The client's C handle, pausing after each result request is sent."""

    def __init__(self, handle) -> None:
        self._handle = handle

    def __getattr__(self, name: str):
        return getattr(self._handle, name)

    def __enter__(self):
        return self._handle.__enter__()

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)

    def send_result_request(self, request) -> int:
        number = self._handle.send_result_request(request)
        time.sleep(PAUSE_S)
        return number


def _done_within(future, timeout_s: float) -> bool:
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    return done.wait(timeout_s)


@pytest.fixture
def results_lost():
    """A function: (client class, goals) -> how many results never arrived."""
    rclpy.init()
    server_node, client_node = Node("refusing_server"), Node("racing_client")

    def refuse(handle):
        handle.abort()
        return ExecuteChunk.Result(success=False, reason="refused")

    ActionServer(
        server_node, ExecuteChunk, "race", execute_callback=refuse,
        goal_callback=lambda _: GoalResponse.ACCEPT,
    )  # fmt: skip
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(server_node)
    executor.add_node(client_node)
    threading.Thread(target=executor.spin, daemon=True).start()

    def run(client_class, goals: int) -> int:
        client = client_class(client_node, ExecuteChunk, "race")
        client._client_handle = PausingHandle(client._client_handle)
        assert client.wait_for_server(timeout_sec=10.0)
        lost = 0
        for _ in range(goals):
            goal = client.send_goal_async(ExecuteChunk.Goal())
            assert _done_within(goal, 5.0), "no goal response"
            time.sleep(PAUSE_S)  # the refusal is in; its result waits for the request
            lost += not _done_within(goal.result().get_result_async(), 1.0)
        return lost

    yield run
    executor.shutdown()
    server_node.destroy_node()
    client_node.destroy_node()
    rclpy.try_shutdown()


def test_every_result_arrives(results_lost):
    assert results_lost(ThreadSafeActionClient, 10) == 0


def test_stock_action_client_loses_them(results_lost):
    """The defect the class exists for; if rclpy fixes it, this fails: drop the class."""
    assert results_lost(ActionClient, 3) == 3
