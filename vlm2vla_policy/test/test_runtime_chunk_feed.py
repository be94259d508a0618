"""The chunk feed between decoder and executor: steps, close, and cancel at any time."""

import threading

import numpy as np

from vlm2vla_policy.runtime.chunk_feed import ChunkFeed


def _feed() -> ChunkFeed:
    return ChunkFeed("pick up the block", "reach the block", 0, "move forward")


def test_a_cancel_after_close_still_reaches_the_executor_once():
    feed = _feed()
    feed.append(np.array([[0.01, 0.0, 0.0, 1.0], [0.0, 0.01, 0.0, 1.0]]))
    feed.close()
    heard: list[str] = []
    feed.on_cancel(heard.append)
    assert heard == [], "a closed, whole feed is not cancelled"
    feed.cancel("camera stale during execution")
    feed.cancel("stopped")
    assert heard == ["camera stale during execution"]
    assert feed.cancelled == "camera stale during execution" and feed.count == 2


def test_a_callback_added_after_the_cancel_runs_at_once():
    feed = _feed()
    feed.cancel("stopped")
    heard: list[str] = []
    feed.on_cancel(heard.append)
    assert heard == ["stopped"]
    feed.append(np.array([[0.01, 0.0, 0.0, 1.0]]))
    assert feed.count == 0, "a cancelled feed takes no step"


def test_a_waiting_executor_wakes_on_cancel():
    feed = _feed()
    feed.append(np.array([[0.01, 0.0, 0.0, 1.0]]))
    woke = threading.Event()

    def executor() -> None:
        feed.wait(1, timeout_s=10.0)
        woke.set()

    thread = threading.Thread(target=executor)
    thread.start()
    feed.cancel("stopped")
    thread.join(10.0)
    assert woke.is_set()
