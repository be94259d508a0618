"""``vlm2vla-launch``: start a graph of ``vlm2vla_bringup.graph`` as processes, without ros2 launch.

    vlm2vla-launch sim seed:=3 dry_run:=true
    vlm2vla-launch replay bag:=/tmp/sample --show-args

Each node gets the command line launch_ros would build
(``<prefix>/lib/<pkg>/<exe> --ros-args -r __node:=... --params-file ... -p k:=v -r from:=to``).
Ctrl-C or SIGTERM stops every process (SIGINT to all at once first, as ros2 launch does, then
SIGTERM, then SIGKILL); when one process exits, the others are stopped too and its exit code is
returned. Included launch files run through ``ros2 launch``
where the CLI is installed; otherwise they are reported and skipped.

Before anything starts, the launch arguments, the parameter files and each node's parameters
are checked (:mod:`vlm2vla_bringup.preflight`, :func:`check_before_start`): a mistake prints one
line naming the argument or file entry and exits with 2. Options (``--print``) may come before,
between or after the ``name:=value`` arguments.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from vlm2vla_bringup.graph import GRAPHS, Action, IncludeSpec, NodeSpec, ProcessSpec, resolve_args
from vlm2vla_bringup.preflight import check_graph
from vlm2vla_policy.processes import ros_executable, stop_processes


def ament_prefixes() -> list[Path]:
    """The install prefixes on ``AMENT_PREFIX_PATH``, in order."""
    return [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]


def share_dir(package: str) -> Path | None:
    """``share/<package>`` of the first prefix that registers ``package``, or None."""
    for prefix in ament_prefixes():
        if (prefix / "share/ament_index/resource_index/packages" / package).exists():
            return prefix / "share" / package
    return None


def node_command(spec: NodeSpec) -> list[str]:
    """The command line of ``spec``, as launch_ros builds it."""
    cmd = [ros_executable(spec.package, spec.executable), "--ros-args"]
    cmd += ["--log-level", spec.log_level, "-r", f"__node:={spec.name}"]
    if spec.namespace:
        cmd += ["-r", f"__ns:={spec.namespace}"]
    for path in spec.params_files:
        cmd += ["--params-file", path]
    for name, value in spec.parameters.items():
        cmd += ["-p", f"{name}:={value}"]
    for source, target in spec.remappings.items():
        cmd += ["-r", f"{source}:={target}"]
    return cmd


def action_command(action: Action) -> list[str] | None:
    """The command of any action; None for an include that cannot run here."""
    if isinstance(action, NodeSpec):
        return node_command(action)
    if isinstance(action, ProcessSpec):
        return list(action.cmd)
    if share_dir(action.package) is None:
        return None
    ros2 = shutil.which("ros2")
    if ros2 is None:
        return None
    return [ros2, "launch", action.package, action.launch_file] + [
        f"{k}:={v}" for k, v in action.arguments.items()
    ]


def check_before_start(args: dict[str, str], actions: list[Action]) -> None:
    """Raise ValueError (one line per problem) for what would stop a process at start.

    The node parameters (files and overrides) go through :func:`~vlm2vla_bringup.preflight.
    check_graph`; a bag to replay must exist.
    """
    check_graph(actions)
    bag = args.get("bag")
    if bag and not Path(bag).expanduser().exists():
        raise ValueError(f"bag:={bag} does not exist; pass a bag directory or .mcap file")


def build(graph: str, given: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Resolve and check ``graph`` with the ``given`` arguments into (name, command) pairs."""
    arguments, make = GRAPHS[graph]
    config = share_dir("vlm2vla_bringup")
    if config is None:
        raise FileNotFoundError("vlm2vla_bringup is not installed; run `make build`")
    args = resolve_args(arguments, given)
    actions = make(args, str(config / "config"))
    check_before_start(args, actions)
    commands = []
    for action in actions:
        cmd = action_command(action)
        if cmd is None:
            assert isinstance(action, IncludeSpec)
            print(
                f"[vlm2vla-launch] skipping {action.package}/{action.launch_file}: not installed "
                "or no ros2 CLI; start the driver yourself",
                file=sys.stderr,
            )
            continue
        name = action.name if isinstance(action, NodeSpec | ProcessSpec) else action.package
        commands.append((name, cmd))
    return commands


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(commands: list[tuple[str, list[str]]], poll_s: float = 0.2) -> int:
    """Start every command; stop them all at Ctrl-C, SIGTERM or when one exits; return a code."""
    signal.signal(signal.SIGTERM, _interrupt)
    procs = []
    for name, cmd in commands:
        print(f"[vlm2vla-launch] {name}: {' '.join(cmd)}", flush=True)
        procs.append((name, subprocess.Popen(cmd)))
    code = 0
    try:
        while all(proc.poll() is None for _, proc in procs):
            time.sleep(poll_s)
        name, proc = next((n, p) for n, p in procs if p.poll() is not None)
        code = proc.returncode
        print(f"[vlm2vla-launch] {name} exited with {code}; stopping the rest", flush=True)
    except KeyboardInterrupt:
        pass
    # Stopping must not be interrupted by a second Ctrl-C or SIGTERM, or children are orphaned.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stop_processes([proc for _, proc in procs])
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlm2vla-launch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("graph", choices=sorted(GRAPHS), help="which graph to start")
    parser.add_argument("arguments", nargs="*", help="launch arguments, name:=value")
    parser.add_argument("--show-args", action="store_true", help="list the graph's arguments")
    parser.add_argument("--print", action="store_true", help="print the commands, start nothing")
    return parser


def _error(message: str) -> None:
    print(f"vlm2vla-launch: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vlm2vla-launch``."""
    args = _parser().parse_intermixed_args(argv)
    if args.show_args:
        for arg in GRAPHS[args.graph][0]:
            choices = f" (one of {', '.join(arg.choices)})" if arg.choices else ""
            print(f"'{arg.name}':\n    {arg.description}{choices}\n    (default: '{arg.default}')")
        return 0
    bad = [a for a in args.arguments if ":=" not in a]
    if bad:
        _error(f"launch arguments must look like name:=value, got {bad}")
        return 2
    try:
        commands = build(args.graph, dict(a.split(":=", 1) for a in args.arguments))
    except (ValueError, FileNotFoundError) as err:
        for line in str(err).splitlines():
            _error(line)
        return 2
    if args.print:
        for name, cmd in commands:
            print(f"{name}: {' '.join(cmd)}")
        return 0
    return run(commands)


if __name__ == "__main__":
    sys.exit(main())
