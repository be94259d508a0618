"""Starting and stopping ROS 2 node processes the way ``ros2 launch`` does.

rclpy exits cleanly on SIGINT (Ctrl-C), not on SIGTERM, so a process is asked to stop with
SIGINT first, then terminated, then killed.
"""

import signal
import subprocess


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
