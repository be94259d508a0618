"""The annotated image without ROS: projection (against hand-worked numbers and OpenCV's own
cv2.projectPoints), drawing (where the path starts, executed vs pending), the loop tracker."""

import threading
from dataclasses import replace
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from vlm2vla_policy.overlay import (
    CameraModelError,
    OverlayConfig,
    OverlayTracker,
    OverlayView,
    PinholeCamera,
    draw_overlay,
    intrinsics_from_fovy,
    look_at_pose,
)
from vlm2vla_policy.overlay.drawing import DONE, EXECUTED, NOT_DONE, PENDING, START
from vlm2vla_policy.runtime.chunk_feed import ChunkFeed
from vlm2vla_policy.runtime.episode_loop import LoopState, LoopStatus

K = np.array([[400.0, 0.0, 319.5], [0.0, 400.0, 239.5], [0.0, 0.0, 1.0]])
FORWARD = look_at_pose((0.0, 0.0, 0.0), (1.0, 0.0, 0.0))  # at the origin, looking along +x


def colour_mask(image: np.ndarray, colour) -> np.ndarray:
    return np.all(image == np.array(colour, np.uint8), axis=2)


def centroid(mask: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    assert len(rows), "nothing of that colour was drawn"
    return float(cols.mean()), float(rows.mean())


# --- projection ---------------------------------------------------------------------------
def test_known_points_project_to_hand_worked_pixels():
    camera = PinholeCamera(640, 480, K, FORWARD)
    points = [
        (2.0, 0.0, 0.0),  # on the optical axis: the principal point
        (2.0, -0.2, 0.0),  # 0.2 m to the right (-y looking along +x) at 2 m: 40 px right
        (2.0, 0.0, 0.2),  # 0.2 m up: 40 px up
        (4.0, 0.4, -0.4),  # left and down at 4 m: 40 px each
    ]
    pixels, front = camera.project(points)
    expected = [(319.5, 239.5), (359.5, 239.5), (319.5, 199.5), (279.5, 279.5)]
    np.testing.assert_allclose(pixels, expected, atol=1e-9)
    assert front.all()


def test_look_at_pose_is_a_level_right_handed_optical_frame():
    pose = look_at_pose((-0.2, -0.3, 0.7), (0.3, 0.05, 0.02))
    rotation = pose[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert rotation[2, 0] == pytest.approx(0.0, abs=1e-12)  # image right is horizontal
    assert rotation[2, 1] < 0  # image down points down
    camera = PinholeCamera(320, 240, intrinsics_from_fovy(320, 240, 36.0), pose)
    centre, _ = camera.project([(0.3, 0.05, 0.02)])
    np.testing.assert_allclose(centre, [(159.5, 119.5)], atol=1e-9)
    with pytest.raises(CameraModelError, match="straight up or down"):
        look_at_pose((0.0, 0.0, 1.0), (0.0, 0.0, 0.0))


@pytest.mark.parametrize("coefficients", [0, 5, 8])
def test_projection_agrees_with_cv2_project_points(coefficients):
    rng = np.random.default_rng(coefficients)
    distortion = np.array([0.12, -0.08, 0.002, -0.003, 0.02, 0.01, -0.02, 0.005])[:coefficients]
    for _ in range(20):
        position = rng.uniform([-0.5, -0.6, 0.4], [0.0, 0.6, 0.9])
        target = rng.uniform([0.2, -0.2, 0.0], [0.5, 0.2, 0.1])
        pose = look_at_pose(position, target)
        k = np.array([[rng.uniform(250, 600), 0.0, rng.uniform(150, 330)],  # OpenCV: no skew
                      [0.0, rng.uniform(250, 600), rng.uniform(110, 250)], [0, 0, 1]])  # fmt: skip
        camera = PinholeCamera(640, 480, k, pose, distortion=distortion)
        points = target + rng.uniform(-0.15, 0.15, (30, 3))
        ours, front = camera.project(points)
        assert front.all()
        rotation = pose[:3, :3].T  # camera from base
        rvec, _ = cv2.Rodrigues(rotation)
        tvec = -rotation @ pose[:3, 3]
        theirs, _ = cv2.projectPoints(points, rvec, tvec, k, distortion)
        np.testing.assert_allclose(ours, theirs.reshape(-1, 2), atol=1e-6)


def test_points_behind_the_camera_are_flagged_not_drawn():
    camera = PinholeCamera(640, 480, K, FORWARD)
    pixels, front = camera.project([(-1.0, 0.0, 0.0), (1.0, 0.0, 0.0)])
    assert front.tolist() == [False, True]
    assert np.isnan(pixels[0]).all()


def test_scaled_camera_sees_what_cv2_resize_shows():
    camera = PinholeCamera(320, 240, intrinsics_from_fovy(320, 240, 36.0), FORWARD)
    point = np.array([[2.0, 0.13, -0.07]])
    u, v = camera.project(point)[0][0]
    small = np.zeros((240, 320), np.float32)
    small[round(v), round(u)] = 1.0  # a single lit pixel at the projected point (rounded)
    big = cv2.resize(small, (640, 480), interpolation=cv2.INTER_LINEAR)
    u2, v2 = camera.scaled(2.0).project(point)[0][0]
    lit_u, lit_v = centroid(big > 0.0)
    assert (lit_u, lit_v) == pytest.approx((2 * round(u) + 0.5, 2 * round(v) + 0.5), abs=1e-6)
    assert (u2, v2) == pytest.approx((2 * u + 0.5, 2 * v + 0.5), abs=1e-9)


def test_camera_info_that_describes_no_camera_is_refused():
    info = SimpleNamespace(width=640, height=480, k=[0.0] * 9, d=[], distortion_model="")
    with pytest.raises(CameraModelError, match="not calibrated"):
        PinholeCamera.from_camera_info(info, np.eye(4))
    fisheye = SimpleNamespace(**{**vars(info), "k": K.ravel(), "distortion_model": "equidistant"})
    with pytest.raises(CameraModelError, match="not supported"):
        PinholeCamera.from_camera_info(fisheye, np.eye(4))


# --- drawing ------------------------------------------------------------------------------
CAMERA = PinholeCamera(320, 240, intrinsics_from_fovy(320, 240, 36.0), FORWARD)
GRIPPER_M = np.array([1.5, 0.05, -0.02])
STEPS = np.array([[0.0, -0.05, 0.0, 1.0], [0.0, 0.0, 0.04, 1.0], [0.0, 0.05, 0.0, 0.0]])
PATH_M = np.vstack([GRIPPER_M, GRIPPER_M + np.cumsum(STEPS[:, :3], axis=0)])
SCENE = np.full((240, 320, 3), 90, np.uint8)


def view(**changes) -> OverlayView:
    base = OverlayView(
        state="executing", subtask="reach the block", subtask_number=1, subtask_count=3,
        plan="move right, move up", path_m=PATH_M, gripper_open=STEPS[:, 3], executed=0,
        gripper_m=GRIPPER_M,
    )  # fmt: skip
    return replace(base, **changes)


def test_the_drawn_path_starts_at_the_projected_gripper():
    image = draw_overlay(SCENE, view(), CAMERA)
    assert image.shape == (480, 640, 3)  # enlarged to min_width_px
    u, v = CAMERA.scaled(2.0).project(GRIPPER_M)[0][0]
    du, dv = np.subtract(centroid(colour_mask(image, START)), (u, v))
    assert np.hypot(du, dv) < 0.5


def test_executed_steps_look_different_from_pending_ones():
    pending = draw_overlay(SCENE, view(executed=0), CAMERA)
    one_done = draw_overlay(SCENE, view(executed=1), CAMERA)
    all_done = draw_overlay(SCENE, view(executed=3), CAMERA)
    executed = [colour_mask(image, EXECUTED).sum() for image in (pending, one_done, all_done)]
    waiting = [colour_mask(image, PENDING).sum() for image in (pending, one_done, all_done)]
    assert executed[0] == 0 < executed[1] < executed[2]
    assert waiting[0] > waiting[1] > waiting[2] == 0


def test_without_a_camera_the_text_is_drawn_and_no_path():
    image = draw_overlay(SCENE, view(), None)
    assert colour_mask(image, START).sum() == 0
    assert colour_mask(image, PENDING).sum() == 0
    assert (image[:20] < SCENE[0, 0]).any()  # the darkened top band with its text
    assert (image[-20:] != 90).any()  # the note at the bottom: no camera_info


def test_the_verdict_is_drawn_in_its_colour():
    done = draw_overlay(SCENE, view(verdict="subtask 1 verified: done", verdict_done=True), CAMERA)
    no = draw_overlay(
        SCENE, view(verdict="subtask 1 verified: not done", verdict_done=False), CAMERA
    )
    assert colour_mask(done[-40:], DONE).any() and not colour_mask(done[-40:], NOT_DONE).any()
    assert colour_mask(no[-40:], NOT_DONE).any() and not colour_mask(no[-40:], DONE).any()


def test_a_wide_frame_is_not_resized_and_the_input_is_left_alone():
    wide = np.full((480, 800, 3), 90, np.uint8)
    camera = PinholeCamera(800, 480, K, FORWARD)
    image = draw_overlay(wide, view(), camera, OverlayConfig(min_width_px=640))
    assert image.shape == wide.shape
    assert (wide == 90).all()


# --- the tracker --------------------------------------------------------------------------
def status(state: LoopState, index: int = 0, retries: int = 0, error: str = "") -> LoopStatus:
    return LoopStatus(
        instruction="pick up the block", state=state, subtasks=("reach", "grasp"),
        current_index=index, plan="move down", retries=retries, last_error=error,
    )  # fmt: skip


def test_the_tracker_draws_the_feed_from_the_gripper_at_its_start():
    gripper = [np.array([0.3, 0.0, 0.15])]
    tracker = OverlayTracker(lambda: gripper[0])
    tracker.on_status(status(LoopState.ACTING))
    feed = ChunkFeed("pick up the block", "reach", 0, "move down")
    tracker.on_feed(feed)
    gripper[0] = np.array([0.9, 0.9, 0.9])  # the arm moves on: the path keeps its start
    feed.append(np.array([[0.01, 0.0, -0.02, 1.0]]))
    shown = tracker.view()
    np.testing.assert_allclose(shown.path_m, [[0.3, 0.0, 0.15], [0.31, 0.0, 0.13]])
    feed.append(np.array([[0.0, 0.02, 0.0, 0.0]]))  # streamed: the next step joins the path
    shown = tracker.view()
    assert len(shown.path_m) == 3 and shown.executed == 0
    np.testing.assert_allclose(shown.gripper_m, [0.9, 0.9, 0.9])
    assert (shown.subtask, shown.subtask_number, shown.subtask_count) == ("reach", 1, 2)
    tracker.on_progress(1)
    assert tracker.view().executed == 1
    feed.close()
    tracker.on_chunk_end(feed, completed=True)
    assert tracker.view().executed == 2


def test_the_tracker_wraps_execute_and_notes_start_and_end():
    tracker = OverlayTracker(lambda: np.zeros(3))
    ran = threading.Event()

    def execute(feed):
        assert tracker.view().path_m.shape == (2, 3)  # started before execute ran
        ran.set()
        return True, ""

    feed = ChunkFeed("i", "s", 0, "p")
    feed.append(np.array([[0.01, 0.0, 0.0, 1.0]]))
    feed.close()
    assert tracker.execute(execute)(feed) == (True, "")
    assert ran.is_set() and tracker.view().executed == 1


def test_the_verdict_is_read_from_the_loop_status():
    tracker = OverlayTracker(lambda: None)
    tracker.on_status(status(LoopState.VERIFYING, index=0))
    tracker.on_status(status(LoopState.VERIFYING, index=0, error="subtask not done yet: no"))
    tracker.on_status(
        status(LoopState.VERIFYING, index=0, retries=1, error="subtask not done yet: no")
    )
    shown = tracker.view()
    assert (shown.verdict, shown.verdict_done) == ("subtask 1 verified: not done (no)", False)
    tracker.on_status(status(LoopState.ACTING, index=0, retries=1))
    tracker.on_status(status(LoopState.VERIFYING, index=0, retries=1))
    tracker.on_status(status(LoopState.VERIFYING, index=1))  # the next subtask: it was done
    assert (tracker.view().verdict, tracker.view().verdict_done) == (
        "subtask 1 verified: done",
        True,
    )
    tracker.on_status(status(LoopState.VERIFYING, index=1))
    tracker.on_status(status(LoopState.DONE, index=1))
    assert tracker.view().verdict == "subtask 2 verified: done"
    tracker.on_status(replace(status(LoopState.PLANNING), instruction="another"))
    assert tracker.view().verdict == ""  # a new instruction starts afresh


def test_without_joint_states_the_tracker_says_why_there_is_no_path():
    tracker = OverlayTracker(lambda: None)
    feed = ChunkFeed("i", "s", 0, "p")
    feed.append(np.array([[0.01, 0.0, 0.0, 1.0]]))
    tracker.on_feed(feed)
    shown = tracker.view()
    assert len(shown.path_m) == 0 and "joint states" in shown.note
