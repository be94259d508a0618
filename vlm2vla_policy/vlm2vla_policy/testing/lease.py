"""The goal producer's side of the controller's lease, for tests and benchmarks.

controller_node stops a goal whose producer sent nothing on ``<controller>/chunk_steps`` for
``lease_timeout_s`` (0.5 s by default). Whoever sends ExecuteChunk goals keeps a
:class:`LeaseHeartbeat` on its node, picks the goal id with :func:`new_goal_id`, and holds it
(``send_goal_async(goal, goal_uuid=goal_id)``): an empty ChunkSteps (a heartbeat) goes out for
every held goal every ``period_s``, as policy_node does, until it is released. :meth:`send`
appends streamed steps.
"""

import threading
import time
import uuid

import numpy as np
from geometry_msgs.msg import Vector3
from rclpy.node import Node
from unique_identifier_msgs.msg import UUID

from vlm2vla_msgs.msg import ChunkSteps
from vlm2vla_policy.nodes.chunk_msgs import fill_chunk_msg
from vlm2vla_policy.nodes.policy_config import PolicyNodeConfig, steps_topic
from vlm2vla_policy.nodes.qos import STEPS
from vlm2vla_policy.settings import default_of


def new_goal_id() -> UUID:
    """A random goal id, to pass as ``goal_uuid`` to ``ActionClient.send_goal_async``."""
    return UUID(uuid=list(uuid.uuid4().bytes))


class LeaseHeartbeat:
    """Renews the controller's lease on the held goals: a heartbeat each every ``period_s``.

    Publishes from a timer of ``node``, so the node must be spinning. ``last_sent_s`` is the
    ``time.monotonic()`` of the last message for each goal id (as bytes), heartbeat or steps.
    """

    def __init__(
        self,
        node: Node,
        controller_action: str = default_of(PolicyNodeConfig, "controller_action"),
        period_s: float = 0.1,
    ) -> None:
        """Publish on the ChunkSteps topic beside ``controller_action`` (as policy_node does)."""
        topic = steps_topic(controller_action)
        self.publisher = node.create_publisher(ChunkSteps, topic, STEPS)
        self.last_sent_s: dict[bytes, float] = {}
        self._held: dict[bytes, UUID] = {}
        self._lock = threading.Lock()
        self.timer = node.create_timer(period_s, self._beat)

    def matched(self) -> bool:
        """True once a controller subscribes to these messages (wait for it before a goal)."""
        return self.publisher.get_subscription_count() > 0

    def hold(self, goal_id: UUID) -> UUID:
        """Heartbeat ``goal_id`` from now on (before its goal is sent is fine); returns it."""
        with self._lock:
            self._held[bytes(goal_id.uuid)] = goal_id
        return goal_id

    def release(self, goal_id: UUID) -> float:
        """Stop the heartbeat of ``goal_id``; returns when its last message went out (or nan).

        Nothing more is sent for it once this returns.
        """
        key = bytes(goal_id.uuid)
        with self._lock:
            self._held.pop(key, None)
            return self.last_sent_s.get(key, float("nan"))

    def send(
        self,
        goal_id: UUID,
        first_index: int,
        steps=(),
        final: bool = False,
        error: str = "",
    ) -> float:
        """Publish (k, 4) ``steps`` for ``goal_id`` starting at chunk index ``first_index``.

        ``final`` closes the stream (``error`` says why it ended early). Returns the send time.
        """
        msg = ChunkSteps(goal_id=goal_id, first_index=first_index, final=final, error=error)
        fill_chunk_msg(msg, np.asarray(steps, dtype=float).reshape(-1, 4), Vector3)
        with self._lock:
            return self._publish(msg)

    def _beat(self) -> None:
        with self._lock:
            for goal_id in self._held.values():
                self._publish(ChunkSteps(goal_id=goal_id))

    def _publish(self, msg: ChunkSteps) -> float:
        self.publisher.publish(msg)
        sent_s = time.monotonic()
        self.last_sent_s[bytes(msg.goal_id.uuid)] = sent_s
        return sent_s
