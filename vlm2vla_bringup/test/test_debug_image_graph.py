"""policy_node's ~/debug_image on the sim graph (``vlm2vla-launch sim debug_image:=true``).

The whole stack runs as processes on real DDS (widowx_sim, policy_node with the tiny Gemma-3,
controller_node without its start move, so the arm stands still until the first chunk). The test
receives annotated frames and checks, against its own projection of the gripper (forward
kinematics of the joint states it heard, through the simulator's own pinhole formula
``vlm2vla_sim.camera.project_to_image``, not the overlay's camera model), that the drawn path's
first point sits on the gripper, and that the frame changes when a chunk arrives: no path before,
a path after, its steps turning from pending to executed as the arm moves.
"""

import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String

from vlm2vla_msgs.msg import ActionChunk, PolicyStatus
from vlm2vla_policy.nodes.qos import LATCHED, SENSOR, STATUS
from vlm2vla_policy.overlay.drawing import EXECUTED, PENDING, START
from vlm2vla_policy.processes import stop_processes
from vlm2vla_policy.robot import WX250S, ArmKinematics
from vlm2vla_policy.testing.probe import SpinningNode
from vlm2vla_sim.camera import CameraConfig, project_to_image

pytestmark = pytest.mark.slow
LOAD_S = 120.0  # longest wait for the graph: model loaded, frames annotated, s
CHUNK_S = 120.0  # longest wait from the instruction to a frame with the chunk's path, s
TOLERANCE_PX = 2.0  # the first point's distance from the projected gripper, annotated pixels
PARAMS_YAML = "/**/controller_node:\n  ros__parameters:\n    move_to_start: false\n"


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def rgb(msg: Image) -> np.ndarray:
    assert msg.encoding == "rgb8"
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    return rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3)


def pixels_of(image: np.ndarray, colour) -> np.ndarray:
    return np.all(image == np.array(colour, np.uint8), axis=2)


class Watcher:
    """The test's node: annotated frames, joint states, camera info, status, chunks."""

    def __init__(self, node: Node) -> None:
        self.lock = threading.Lock()
        self.frames: list[tuple[float, np.ndarray]] = []  # (receipt time, RGB)
        self.joints: list[tuple[float, np.ndarray]] = []
        self.infos: list[CameraInfo] = []
        self.status: list[PolicyStatus] = []
        self.chunks: list[tuple[float, ActionChunk]] = []
        node.create_subscription(Image, "/policy_node/debug_image", self._frame, SENSOR)
        node.create_subscription(JointState, "/wx250s/joint_states", self._joints, SENSOR)
        node.create_subscription(CameraInfo, "/camera/camera_info", self.infos.append, SENSOR)
        node.create_subscription(PolicyStatus, "/vlm2vla/status", self.status.append, STATUS)
        node.create_subscription(ActionChunk, "/vlm2vla/action_chunk", self._chunk, 10)
        self.instruction = node.create_publisher(String, "/vlm2vla/instruction", LATCHED)

    def _frame(self, msg: Image) -> None:
        frame = rgb(msg)
        with self.lock:
            self.frames.append((time.monotonic(), frame))

    def _joints(self, msg: JointState) -> None:
        joints = WX250S.arm_positions(msg.name, msg.position)
        if joints is not None:
            with self.lock:
                self.joints.append((time.monotonic(), joints))

    def _chunk(self, msg: ActionChunk) -> None:
        with self.lock:
            self.chunks.append((time.monotonic(), msg))

    def frames_since(self, since: float) -> list[np.ndarray]:
        with self.lock:
            return [frame for stamp, frame in self.frames if stamp >= since]

    def idle(self) -> bool:
        return any(s.state_name == "idle" for s in self.status)


@pytest.fixture
def sim_graph(tiny_gemma3_dir, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS_YAML)
    args = [f"model:={tiny_gemma3_dir}", "verifier:=none", "seed:=0", f"params_file:={params}",
            "debug_image:=true"]  # fmt: skip
    launch = subprocess.Popen(["vlm2vla-launch", "sim", *args])
    spinning = SpinningNode("debug_image_test")
    node = spinning.node
    try:
        yield Watcher(node)
    finally:
        spinning.close()
        stop_processes([launch], grace_s=30.0)


def test_debug_image_draws_the_chunk_from_the_gripper(sim_graph):
    watcher = sim_graph
    wait_until(lambda: watcher.idle() and watcher.frames and watcher.joints and watcher.infos,
               LOAD_S, "the policy's first annotated frame")  # fmt: skip
    time.sleep(0.5)  # a few frames more, all before any chunk
    before = watcher.frames_since(0.0)
    assert all(pixels_of(f, START).sum() == 0 for f in before), "a path before any chunk"
    with watcher.lock:
        joints = watcher.joints[-1][1]  # the arm stands still until its first chunk
    said = time.monotonic()
    watcher.instruction.publish(String(data="pick up the block"))

    def with_path() -> list[np.ndarray]:
        return [f for f in watcher.frames_since(said) if pixels_of(f, START).sum() > 0]

    wait_until(with_path, CHUNK_S, "a frame with the chunk's path")
    wait_until(lambda: watcher.chunks, 60.0, "the chunk's ActionChunk record")
    first = with_path()[0]

    # Where the gripper is, by the simulator's own projection (pixel edges at integers), in
    # the annotated frame's pixels (enlarged from the camera's, pixel centres at integers).
    camera = CameraConfig()
    gripper_m = ArmKinematics(WX250S).fk(joints)[:3, 3]
    u, v = project_to_image(camera, gripper_m)
    scale = first.shape[1] / camera.width
    expected = np.array([u * scale - 0.5, v * scale - 0.5])
    rows, cols = np.nonzero(pixels_of(first, START))
    drawn = np.array([cols.mean(), rows.mean()])
    error_px = float(np.linalg.norm(drawn - expected))
    print(f"path's first point {drawn.round(2)} vs projected gripper {expected.round(2)}: "
          f"{error_px:.2f} px ({error_px / scale:.2f} camera px)")  # fmt: skip
    assert error_px < TOLERANCE_PX

    # A chunk changes the frame: before it no path; with it pending steps, later executed ones.
    last_before = before[-1]
    assert pixels_of(last_before, PENDING).sum() == pixels_of(last_before, EXECUTED).sum() == 0
    # Streamed: the first frame with a path may hold only the steps decoded by then (one, under
    # load: 30 pixels of a short segment), so any step pixel counts.
    assert pixels_of(first, PENDING).sum() + pixels_of(first, EXECUTED).sum() > 0
    assert np.abs(first.astype(int) - last_before).sum(axis=2).astype(bool).sum() > 100
    wait_until(lambda: any(pixels_of(f, EXECUTED).sum() > 50 for f in with_path()), 60.0,
               "executed steps drawn as the arm moves")  # fmt: skip
    if os.environ.get("VLM2VLA_DEBUG_IMAGE_PNG"):  # docs/images/debug_image.png is made so
        import imageio.v2 as imageio

        frames = with_path()
        mixed = [f for f in frames if pixels_of(f, EXECUTED).any() and pixels_of(f, PENDING).any()]
        imageio.imwrite(Path(os.environ["VLM2VLA_DEBUG_IMAGE_PNG"]), (mixed or frames)[-1])
