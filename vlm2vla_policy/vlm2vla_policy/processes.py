"""Finding, starting and stopping ROS 2 node processes the way ``ros2 launch`` does.

rclpy exits cleanly on SIGINT (Ctrl-C), not on SIGTERM, so a process is asked to stop with
SIGINT first, then terminated, then killed.
"""

import os
import signal
import subprocess
from pathlib import Path


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> int:
    """Stop ``proc`` with SIGINT, then SIGTERM, then SIGKILL, ``grace_s`` apart; return its code."""
    for send in (lambda: proc.send_signal(signal.SIGINT), proc.terminate):
        if proc.poll() is not None:
            return proc.returncode
        send()
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    return proc.wait()


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
