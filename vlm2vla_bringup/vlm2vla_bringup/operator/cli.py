"""``vlm2vla``: the operator's command for a running graph (robot, sim or replay).

    vlm2vla say "pick up the carrot"            an ExecuteInstruction goal: feedback, result
    vlm2vla say --topic "pick up the carrot"    the latched instruction topic instead
    vlm2vla stop | estop | resume | home | sleep
    vlm2vla status [--follow]                   the current status; then one line per change
    vlm2vla chunks [--follow]                   the next chunk; every chunk
    vlm2vla --namespace arm1 ...                the graph launched with namespace:=arm1

Names are the nodes' own relative names, resolved in ``--namespace``, and each topic is read or
written with the QoS the nodes use (:mod:`vlm2vla_policy.nodes.qos`). Exit codes: 0 done, 1 the
robot refused or failed, 2 a usage error or nothing found within ``--timeout``, 130 interrupted
(``say``: its goal is cancelled first). Ctrl-C ends ``--follow`` with 0.

SIGINT and SIGTERM only set a flag that every wait checks between two executor turns: a command
ends without a traceback and ``say`` can still cancel its goal (rclpy's own handler, which shuts
the context down at once, is not installed).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

import rclpy
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vlm2vla_bringup.graph import ros_namespace
from vlm2vla_bringup.operator.lines import (
    chunk_line,
    clock,
    feedback_line,
    quoted,
    stamp_s,
    status_line,
)
from vlm2vla_msgs.action import ExecuteInstruction
from vlm2vla_msgs.msg import ActionChunk, PolicyStatus
from vlm2vla_policy.nodes.action_client import ThreadSafeActionClient
from vlm2vla_policy.nodes.policy_config import PolicyNodeConfig
from vlm2vla_policy.nodes.policy_node import CHUNK_TOPIC, STATUS_TOPIC
from vlm2vla_policy.nodes.qos import LATCHED, RELIABLE, STATUS
from vlm2vla_policy.settings import default_of

EXIT_OK, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_INTERRUPTED = 0, 1, 2, 130
POLICY_NODE = "policy_node"  # the node names of every graph (vlm2vla_bringup.graph.stack_nodes)
CONTROLLER_NODE = "controller_node"
INSTRUCTION_TOPIC = default_of(PolicyNodeConfig, "instruction_topic")
INSTRUCTION_ACTION = f"{POLICY_NODE}/execute_instruction"
SERVICES = {  # command -> (node, its std_srvs/Trigger service, what it does)
    "stop": (POLICY_NODE, "stop", "stop acting on the instruction (its chunk is cancelled)"),
    "estop": (CONTROLLER_NODE, "estop", "e-stop: the chunk ends, nothing moves until resume"),
    "resume": (CONTROLLER_NODE, "resume", "release the e-stop"),
    "home": (CONTROLLER_NODE, "home", "slow move to all-zero joints; ends when the move has"),
    "sleep": (CONTROLLER_NODE, "sleep", "slow move to the sleep pose; ends when the move has"),
}
MOVES = ("home", "sleep")  # answered when the move has ended
MOVE_ANSWER_S = 120.0  # longest wait for a move's answer (the controller's own backstop is shorter)
CANCEL_S = 5.0  # longest wait, after Ctrl-C, for a cancelled goal to end (--timeout 0), s
SETTLE_S = 0.3  # a latched topic's history has arrived once nothing more came for this long, s
SPIN_S = 0.05  # longest executor turn, s: how soon Ctrl-C ends a wait
WATCH_S = 0.5  # how often a follower checks that its topic still has a publisher, s


class NotFoundError(Exception):
    """Nothing answered within the timeout (exit 2)."""


class RobotError(Exception):
    """The robot refused or failed (exit 1)."""


class InterruptError(Exception):
    """Ctrl-C or SIGTERM ended a wait (exit 130)."""


class Session:
    """The operator's node in the graph's namespace, spun by the calling thread only."""

    def __init__(self, namespace: str, timeout_s: float, interrupted: threading.Event) -> None:
        self.namespace = namespace or "/"
        self.node = Node(f"vlm2vla_operator_{os.getpid()}", namespace=self.namespace)
        self.timeout_s = timeout_s or None  # 0: no limit
        self.interrupted = interrupted
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)

    def spin_until(self, done: Callable[[], object], timeout_s: float | None) -> bool:
        """Spin until ``done()`` is true, Ctrl-C, or ``timeout_s`` (None: none); ``done()``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not done() and not self.interrupted.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.executor.spin_once(timeout_sec=SPIN_S)
        return bool(done())

    def wait(self, done: Callable[[], object], timeout_s: float | None, what: str) -> None:
        """``spin_until``; InterruptError on Ctrl-C, RobotError naming ``what`` at the timeout."""
        if self.spin_until(done, timeout_s):
            return
        if self.interrupted.is_set():
            raise InterruptError
        raise RobotError(f"{what} within {timeout_s:g} s")

    def discover(self, ready: Callable[[], object], what: str, owner: str) -> None:
        """Wait up to ``--timeout`` for ``ready()``, else NotFoundError naming ``what``."""
        if self.spin_until(ready, self.timeout_s):
            return
        if self.interrupted.is_set():
            raise InterruptError
        domain = os.environ.get("ROS_DOMAIN_ID", "0")
        raise NotFoundError(
            f"no {what} within {self.timeout_s:g} s: is {owner} running in namespace "
            f"{self.namespace} on ROS_DOMAIN_ID {domain}? (--namespace, --timeout)"
        )

    def subscribe(self, msg_type: type, topic: str, qos: QoSProfile) -> tuple[deque, str]:
        """Subscribe to policy_node's ``topic`` and find its publisher: (messages, full name)."""
        received: deque = deque()

        def keep(msg: object) -> None:  # rclpy reads the callback's signature; a builtin has none
            received.append(msg)

        name = self.node.create_subscription(msg_type, topic, keep, qos).topic_name
        self.discover(lambda: self.node.count_publishers(name), f"publisher of {name}", POLICY_NODE)
        return received, name

    def close(self) -> None:
        """Destroy the node (the caller shuts rclpy down)."""
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


class LinePrinter:
    """Prints ``time text`` whenever ``text`` differs from the line printed last."""

    def __init__(self) -> None:
        self.last: str | None = None

    def show(self, at_s: float, text: str) -> None:
        """Print the line unless it says what the last one said."""
        if text != self.last:
            print(f"{clock(at_s)} {text}", flush=True)
            self.last = text


# --- commands ------------------------------------------------------------------------------
def call_service(session: Session, args: argparse.Namespace) -> int:
    """stop, estop, resume, home, sleep: call the node's Trigger service; 1 if it refuses."""
    owner, service, _ = SERVICES[args.command]
    client = session.node.create_client(Trigger, f"{owner}/{service}")
    name = session.node.resolve_service_name(f"{owner}/{service}")
    session.discover(client.service_is_ready, f"service {name}", owner)
    future = client.call_async(Trigger.Request())
    answer_s = MOVE_ANSWER_S if args.command in MOVES else session.timeout_s
    session.wait(future.done, answer_s, f"no answer from {name}")
    response = future.result()
    if not response.success:
        raise RobotError(f"{name} refused: {response.message}")
    print(f"{args.command}: {response.message}", flush=True)
    return EXIT_OK


def say(session: Session, args: argparse.Namespace) -> int:
    """The instruction as an ExecuteInstruction goal (or on the topic); 1 unless it succeeds."""
    text = " ".join(args.text).strip()
    if args.topic:
        return _say_on_topic(session, text)
    client = ThreadSafeActionClient(session.node, ExecuteInstruction, INSTRUCTION_ACTION)
    name = session.node.resolve_topic_name(INSTRUCTION_ACTION)
    session.discover(client.server_is_ready, f"action server {name}", POLICY_NODE)
    printer = LinePrinter()
    sent = client.send_goal_async(
        ExecuteInstruction.Goal(instruction=text),
        feedback_callback=lambda msg: printer.show(time.time(), feedback_line(msg.feedback)),
    )
    session.wait(sent.done, session.timeout_s, f"no answer to the goal from {name}")
    handle = sent.result()
    if not handle.accepted:
        raise RobotError(f"{name} rejected the goal {quoted(text)}")
    if args.no_wait:
        print(f"{clock(time.time())} accepted by {name}: {quoted(text)}", flush=True)
        return EXIT_OK
    result = handle.get_result_async()
    if not session.spin_until(result.done, None):  # only Ctrl-C ends this wait early
        _cancel(session, handle, result)
        raise InterruptError(f"cancelled the goal {quoted(text)} at {name}")
    outcome = result.result().result
    if not outcome.success:
        raise RobotError(outcome.message)
    print(f"{clock(time.time())} {outcome.message}", flush=True)
    return EXIT_OK


def _cancel(session: Session, handle, result) -> None:
    """Cancel the goal and wait for it to end (a second Ctrl-C stops waiting)."""
    session.interrupted.clear()
    handle.cancel_goal_async()
    session.spin_until(result.done, session.timeout_s or CANCEL_S)


def _say_on_topic(session: Session, text: str) -> int:
    """Publish ``text`` latched, as ``ros2 topic pub``; return once every reader acknowledged."""
    publisher = session.node.create_publisher(String, INSTRUCTION_TOPIC, LATCHED)
    topic = publisher.topic_name
    session.discover(lambda: publisher.get_subscription_count() > 0, f"reader of {topic}",
                     POLICY_NODE)  # fmt: skip
    publisher.publish(String(data=text))
    turn = Duration(seconds=SPIN_S)
    session.wait(lambda: publisher.wait_for_all_acked(turn), session.timeout_s,
                 f"{topic}: the instruction was not acknowledged")  # fmt: skip
    print(f"{clock(time.time())} published on {topic}: {quoted(text)}", flush=True)
    return EXIT_OK


def status(session: Session, args: argparse.Namespace) -> int:
    """The current (latched) status in one line; with --follow, then a line per change."""
    qos = STATUS if args.follow else LATCHED  # depth 20: no state change of a burst is lost
    received, topic = session.subscribe(PolicyStatus, STATUS_TOPIC, qos)
    session.discover(lambda: received, f"status on {topic}", POLICY_NODE)
    _settle(session, received)
    printer = LinePrinter()
    printer.show(stamp_s(received[-1].header), status_line(received[-1]))
    received.clear()
    if not args.follow:
        return EXIT_OK
    return _follow(session, topic, received,
                   lambda msg: printer.show(stamp_s(msg.header), status_line(msg)))  # fmt: skip


def chunks(session: Session, args: argparse.Namespace) -> int:
    """The next chunk in one line; with --follow, every chunk."""
    received, topic = session.subscribe(ActionChunk, CHUNK_TOPIC, RELIABLE)

    def show(msg: ActionChunk) -> None:
        print(f"{clock(stamp_s(msg.header))} {chunk_line(msg)}", flush=True)

    if args.follow:
        return _follow(session, topic, received, show)
    session.wait(lambda: received, None, "")
    show(received[0])
    return EXIT_OK


def _settle(session: Session, received: deque) -> None:
    """Spin until no message came for SETTLE_S: a latched history has then arrived whole."""
    count = -1
    while count != len(received) and not session.interrupted.is_set():
        count = len(received)
        session.spin_until(lambda seen=count: len(received) > seen, SETTLE_S)


def _follow(session: Session, topic: str, received: deque, show: Callable) -> int:
    """Show every message until Ctrl-C; say on stderr when the topic loses its publisher."""
    publishing = True
    next_check_s = time.monotonic() + WATCH_S
    while not session.interrupted.is_set():
        session.executor.spin_once(timeout_sec=SPIN_S)
        while received:
            show(received.popleft())
        if time.monotonic() >= next_check_s:
            next_check_s = time.monotonic() + WATCH_S
            now = session.node.count_publishers(topic) > 0
            if now != publishing:
                state = "has a publisher again" if now else "has no publisher any more"
                print(f"vlm2vla: {topic} {state}", file=sys.stderr, flush=True)
            publishing = now
    return EXIT_OK


COMMANDS: dict[str, Callable[[Session, argparse.Namespace], int]] = {
    "say": say,
    **dict.fromkeys(SERVICES, call_service),
    "status": status,
    "chunks": chunks,
}


# --- command line --------------------------------------------------------------------------
def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds >= 0")
    return value


def _common(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """--namespace and --timeout, before or after the command (defaults only on the main one)."""
    parser.add_argument(
        "-n", "--namespace", default="" if defaults else argparse.SUPPRESS,
        help="namespace of the graph (its launch argument namespace), e.g. arm1; default: root",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=_seconds, metavar="S", default=5.0 if defaults else argparse.SUPPRESS,
        help="seconds to find the node and get its answer (5; 0: for ever); home and sleep "
        f"answer when the move has ended (up to {MOVE_ANSWER_S:g} s)",
    )  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlm2vla",
        description="Operate a running vlm2vla graph: instructions, stops, status.",
        epilog="exit codes: 0 done; 1 the robot refused or failed; 2 usage error or nothing "
        "found within --timeout; 130 interrupted (say: its goal is cancelled)",
    )
    _common(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    speak = commands.add_parser("say", help="give the policy an instruction and follow it")
    speak.add_argument("text", nargs="+", help="the instruction (words are joined with spaces)")
    how = speak.add_mutually_exclusive_group()
    how.add_argument("--topic", action="store_true",
                     help=f"publish on the latched {INSTRUCTION_TOPIC} topic instead of the "
                     "action; return once policy_node has it")  # fmt: skip
    how.add_argument("--no-wait", action="store_true",
                     help="return once the goal is accepted")  # fmt: skip
    _common(speak, defaults=False)
    for name, (_, _, what) in SERVICES.items():
        _common(commands.add_parser(name, help=what), defaults=False)
    for name, what, follow in (
        ("status", "the policy's current status", "then one line per change"),
        ("chunks", "the next action chunk", "every action chunk"),
    ):
        sub = commands.add_parser(name, help=f"{what} in one line")
        sub.add_argument("-f", "--follow", action="store_true", help=f"{follow}, until Ctrl-C")
        _common(sub, defaults=False)
    return parser


def _catch_signals() -> threading.Event:
    """SIGINT and SIGTERM set the returned event (every wait checks it)."""
    interrupted = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: interrupted.set())
    return interrupted


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (``--ros-args ...`` are passed to rclpy)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(remove_ros_args(["vlm2vla", *argv])[1:])
    try:
        namespace = ros_namespace(args.namespace)
    except ValueError:
        parser.error(f"--namespace {args.namespace}: not a ROS namespace (e.g. arm1, /lab/arm1)")
    if args.command == "say" and not " ".join(args.text).strip():
        parser.error("say: the instruction is empty (`vlm2vla stop` stops the policy)")
    interrupted = _catch_signals()
    rclpy.init(args=["vlm2vla", *argv], signal_handler_options=SignalHandlerOptions.NO)
    session = Session(namespace, args.timeout, interrupted)
    try:
        return COMMANDS[args.command](session, args)
    except NotFoundError as err:
        print(f"vlm2vla {args.command}: {err}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except RobotError as err:
        print(f"vlm2vla {args.command}: {err}", file=sys.stderr)
        return EXIT_FAILED
    except InterruptError as err:
        print(f"vlm2vla {args.command}: {err or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `vlm2vla status --follow | head -3`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return EXIT_OK
    finally:
        session.close()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
