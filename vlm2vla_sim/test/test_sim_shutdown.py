"""widowx_sim stops on SIGINT or SIGTERM while its camera renders, without a traceback.

Before, rclpy's signal handler shut the ROS context down first, and the render thread's next
publish raised ``RCLError: publisher's context is invalid`` at the end of every live run.
"""

import signal
import subprocess
import time

import pytest
from sensor_msgs.msg import Image

from vlm2vla_policy.nodes.qos import SENSOR
from vlm2vla_policy.processes import ros_executable
from vlm2vla_policy.testing.probe import spinning_node

SHUTDOWN_NOISE = ("Traceback", "RCLError", "never retrieved", "Failed to publish", "Exception")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_sim_node_stops_cleanly_while_rendering(egl_renderer_works, sig):
    proc = subprocess.Popen(
        [ros_executable("vlm2vla_sim", "widowx_sim"), "--ros-args", "-r", "__ns:=/shutdown_test",
         "-p", "render_hz:=30.0", "-p", "joint_state_hz:=200.0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    images: list[Image] = []
    try:
        with spinning_node("shutdown_test_probe") as node:
            topic = "/shutdown_test/camera/image_raw"
            node.create_subscription(Image, topic, images.append, SENSOR)
            deadline = time.monotonic() + 60.0
            while len(images) < 5:  # the render thread is publishing
                assert time.monotonic() < deadline, "no camera images from widowx_sim"
                assert proc.poll() is None, proc.communicate()[0]
                time.sleep(0.05)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    noise = [line for line in output.splitlines() if any(n in line for n in SHUTDOWN_NOISE)]
    assert not noise, output
    assert proc.returncode == 0, output
