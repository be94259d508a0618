"""The one ``main`` of every node: init, build, optional start-up, spin, clean shutdown.

Shutdown follows the Jazzy/Humble idiom (``destroy_node`` then ``rclpy.try_shutdown`` in a
``finally``); a configuration error (a bad parameter, a model that cannot load) is logged as
fatal and exits with code 1 instead of a traceback.
"""

from collections.abc import Callable

import rclpy
from rclpy.node import Node

from vlm2vla_policy.nodes.handoff_executor import HandoffExecutor
from vlm2vla_policy.nodes.params import ParameterError


def run_node(
    name: str,
    make: Callable[[], Node],
    start: Callable[[Node], bool] | None = None,
    *,
    fatal: tuple[type[Exception], ...] = (ParameterError,),
    threads: int = 4,
    args: list[str] | None = None,
) -> int:
    """Run the node ``make`` builds until Ctrl-C; return the process exit code.

    ``start(node)`` runs before spinning (e.g. waiting for a driver); False exits with 1.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = make()
        if start is not None and not start(node):
            return 1
        executor = HandoffExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except fatal as err:
        rclpy.logging.get_logger(name).fatal(str(err))
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
