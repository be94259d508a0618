"""A warning at start when an input topic of a node has nobody publishing on it.

A camera remapped to the wrong topic, or a driver under another robot_name, otherwise shows only
later and elsewhere (the first instruction fails on a missing image; the arm never moves).
:func:`watch_publishers` checks the subscription's topic ``after_s`` after the node starts
spinning and warns once, naming the resolved topic and what to check; when a publisher shows up
later, it says so.
"""

from rclpy.node import Node
from rclpy.subscription import Subscription

PUBLISHER_WAIT_S = 3.0
"""How long after start a node waits for a publisher on an input topic before warning, s.

Long enough for DDS discovery on one host (well under a second) and a driver that starts beside
the node; short enough to be seen before anyone sends an instruction.
"""


def watch_publishers(
    node: Node, subscription: Subscription, what: str, hint: str, after_s: float = PUBLISHER_WAIT_S
) -> None:
    """Warn once when ``subscription``'s topic has no publisher ``after_s`` after spinning starts.

    ``what`` names the input ("camera images"), ``hint`` says what to check ("remap image to
    the camera's topic"). The check repeats every ``after_s`` until a publisher is seen, and
    then stops (with an info line if it had warned).
    """
    topic = subscription.topic_name  # resolved and remapped: what the user must match
    state = {"warned": False}

    def check() -> None:
        if node.count_publishers(topic) > 0:
            timer.cancel()
            if state["warned"]:
                node.get_logger().info(f"{what}: {topic} has a publisher now")
            return
        if not state["warned"]:
            state["warned"] = True
            node.get_logger().warning(
                f"no publisher on {topic} ({what}) {after_s:.0f} s after start; {hint}"
            )

    timer = node.create_timer(after_s, check)
