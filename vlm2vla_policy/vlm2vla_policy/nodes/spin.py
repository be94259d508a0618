"""The one ``main`` of every node: init, build, optional start-up, spin, clean shutdown.

Shutdown follows the Jazzy/Humble idiom (``destroy_node`` then ``rclpy.try_shutdown`` in a
``finally``); a configuration error (a bad parameter, a model that cannot load) is logged as
fatal, naming the parameter to change, and exits with code 1 instead of a traceback.

SIGINT and SIGTERM stop a node in order: the node's threads and publishers first, the ROS
context last. rclpy's own signal handler would shut the context down the moment the signal
arrives, so a node's render or worker thread publishing before ``destroy_node`` had stopped it
raised ``RCLError: publisher's context is invalid`` and its last log lines failed to reach
rosout. :func:`run_node` therefore turns either signal into ``KeyboardInterrupt`` in the main
thread (which spins in steps of :data:`SPIN_STEP_S`, so it sees the signal at once); a thread that
may still publish after a shutdown from elsewhere uses :func:`publish_while_ok`.
"""

import signal
from collections.abc import Callable, Sequence

import rclpy
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.signals import SignalHandlerOptions

from vlm2vla_policy.nodes.handoff_executor import HandoffExecutor
from vlm2vla_policy.nodes.params import Param, ParameterError, param_message

SPIN_STEP_S = 0.1  # longest wait of the spinning main thread, s: how soon a signal is acted on
SETTLE_S = 0.5  # how long shutdown waits for running callbacks, before and after destroy_node, s


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def publish_while_ok(node: Node, publisher: Publisher, msg: object) -> bool:
    """Publish ``msg`` from a thread of the node's own; False once the context is shut down.

    An error while the context is still valid is raised as usual.
    """
    if not node.context.ok():
        return False
    try:
        publisher.publish(msg)
    except Exception:  # rclpy raises RCLError (or InvalidHandle) for a context shut down
        if node.context.ok():
            raise
        return False
    return True


def run_node(
    name: str,
    make: Callable[[], Node],
    start: Callable[[Node], bool] | None = None,
    *,
    fatal: tuple[type[Exception], ...] = (ParameterError,),
    threads: int = 4,
    args: list[str] | None = None,
    params: Sequence[Param] = (),
) -> int:
    """Run the node ``make`` builds until Ctrl-C; return the process exit code.

    ``start(node)`` runs before spinning (e.g. waiting for a driver); False exits with 1. A
    ``fatal`` error is logged in one line, with the fields it names spelled as the node's
    ``params`` (``ModelConfig.model`` -> ``parameter 'model'``).
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    node = executor = None
    try:
        node = make()
        if start is not None and not start(node):
            return 1
        executor = HandoffExecutor(num_threads=threads)
        executor.add_node(node)
        while rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_STEP_S)
    except fatal as err:
        rclpy.logging.get_logger(name).fatal(param_message(err, params))
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        # A second signal must not cut the orderly stop short.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if executor is not None:  # timers and other short callbacks end while handles are valid
            for err in executor.settle(SETTLE_S):
                rclpy.logging.get_logger(name).error(f"a callback failed: {err!r}")
        if node is not None:
            node.destroy_node()
        if executor is not None:
            executor.settle(SETTLE_S)  # callbacks the node's stop ended: their errors are expected
        rclpy.try_shutdown()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a hung exit can be cut short
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return 0
