"""Finding, starting and stopping ROS 2 node processes the way ``ros2 launch`` does.

rclpy exits cleanly on SIGINT (Ctrl-C), not on SIGTERM, so a process is asked to stop with
SIGINT first, then terminated, then killed.
"""

import os
import signal
import subprocess
import time
from pathlib import Path


def stop_processes(
    procs: list[subprocess.Popen], grace_s: float = 10.0, group: bool = False
) -> list[int]:
    """Stop every process: SIGINT to all at once, then SIGTERM, then SIGKILL, ``grace_s`` apart.

    ``group``: signal each process's whole process group (a process started with
    ``start_new_session=True`` and its children). Returns the exit codes, in order.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in procs if p.poll() is None]
        for proc in alive:
            _send(proc, sig, group)
        deadline = time.monotonic() + grace_s
        while any(p.poll() is None for p in alive) and time.monotonic() < deadline:
            time.sleep(0.05)
    return [p.wait() for p in procs]


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> int:
    """Stop ``proc`` with SIGINT, then SIGTERM, then SIGKILL, ``grace_s`` apart; return its code."""
    return stop_processes([proc], grace_s)[0]


def _send(proc: subprocess.Popen, sig: signal.Signals, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def ros_executable(package: str, executable: str) -> str:
    """Path of ``lib/<package>/<executable>`` on AMENT_PREFIX_PATH (where ``ros2 run`` looks)."""
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        path = Path(prefix) / "lib" / package / executable
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise FileNotFoundError(
        f"executable {executable!r} of package {package!r} not found; run `make build` "
        "and `source scripts/env.sh`"
    )
