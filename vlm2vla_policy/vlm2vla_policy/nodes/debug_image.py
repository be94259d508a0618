"""policy_node's ``~/debug_image``: the camera frame annotated with what the policy is doing.

Glue only, over :mod:`vlm2vla_policy.overlay` (``debug_image:=true`` turns it on): messages in,
:class:`~vlm2vla_policy.overlay.OverlayTracker` and :func:`~vlm2vla_policy.overlay.draw_overlay`
calls, one image out per timer period. The node hands the tracker its loop's status, each chunk's
execution and the controller's feedback; the rest comes from topics:

  sub  image / image/compressed     the policy's camera (the same name, so the same remapping)
  sub  <beside the image>/camera_info  sensor_msgs/CameraInfo: the intrinsics (image_transport's
                                    pairing: /camera/image_raw -> /camera/camera_info); without
                                    one the text is drawn and the path is not
  sub  joint_states_topic           sensor_msgs/JointState: the gripper's position (forward
                                    kinematics of the wx250s arm joints)
  pub  ~/debug_image                sensor_msgs/Image rgb8 (sensor QoS), stamp and frame_id of
                                    the camera frame it annotates; at most debug_image_rate_hz

The camera's pose in the base frame comes from the camera_position_m and camera_look_at_m
parameters (no TF here).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState

from vlm2vla_policy.nodes.image_msgs import (
    ImageConversionError,
    camera_info_topic,
    fill_image,
    to_rgb,
)
from vlm2vla_policy.nodes.policy_config import debug_image_config, overlay_config
from vlm2vla_policy.nodes.qos import SENSOR
from vlm2vla_policy.overlay import CameraModelError, OverlayTracker, PinholeCamera, draw_overlay
from vlm2vla_policy.robot import WX250S, ArmKinematics

NO_INFO_WARNING_S = 5.0  # warn when images came this long without a camera_info, s
TOPIC = "~/debug_image"


class DebugImagePublisher:
    """Publishes the annotated camera frame of ``node`` (a policy_node) on ``~/debug_image``."""

    def __init__(self, node: Node, p: dict) -> None:
        self.node = node
        self.config = debug_image_config(p)
        self.overlay = overlay_config(p)
        self.camera_pose = self.overlay.camera_pose()
        self.kinematics = ArmKinematics(WX250S)
        self.tracker = OverlayTracker(self.gripper_m)
        self.lock = threading.Lock()
        self.image_msg = None  # the latest camera frame, not yet annotated
        self.first_image_s: float | None = None
        self.info_key: tuple | None = None  # what the camera was built from
        self.camera: PinholeCamera | None = None
        self.joints: np.ndarray | None = None
        group = MutuallyExclusiveCallbackGroup()
        if p["image_transport"] == "raw":
            image = node.create_subscription(
                Image, "image", self.on_image, SENSOR, callback_group=group
            )
        else:
            image = node.create_subscription(
                CompressedImage, "image/compressed", self.on_image, SENSOR, callback_group=group
            )
        self.info_topic = camera_info_topic(image.topic_name)
        node.create_subscription(
            CameraInfo, self.info_topic, self.on_camera_info, SENSOR, callback_group=group
        )
        node.create_subscription(
            JointState, self.config.joint_states_topic, self.on_joint_states, SENSOR,
            callback_group=group,
        )  # fmt: skip
        self.pub = node.create_publisher(Image, TOPIC, SENSOR)
        node.create_timer(1.0 / self.config.rate_hz, self.publish, callback_group=group)
        joints = node.resolve_topic_name(self.config.joint_states_topic)
        node.get_logger().info(
            f"{self.pub.topic_name}: {image.topic_name} annotated, intrinsics from "
            f"{self.info_topic}, gripper from {joints}"
        )

    # --- inputs -------------------------------------------------------------------------
    def on_image(self, msg) -> None:
        """Keep the latest camera frame."""
        with self.lock:
            self.image_msg = msg
            if self.first_image_s is None:
                self.first_image_s = time.monotonic()

    def on_camera_info(self, msg: CameraInfo) -> None:
        """The camera model, rebuilt when the intrinsics change."""
        key = (msg.width, msg.height, msg.distortion_model, tuple(msg.k), tuple(msg.d))
        if key == self.info_key:
            return
        self.info_key = key
        try:
            camera = PinholeCamera.from_camera_info(msg, self.camera_pose)
        except CameraModelError as err:
            camera = None
            self.node.get_logger().error(f"{self.info_topic}: {err}; no path on {TOPIC}")
        with self.lock:
            self.camera = camera

    def on_joint_states(self, msg: JointState) -> None:
        """Keep the latest arm joints (a message without every arm joint is ignored)."""
        joints = WX250S.arm_positions(msg.name, msg.position)
        if joints is not None:
            with self.lock:
                self.joints = joints

    def on_feedback(self, feedback_msg) -> None:
        """ExecuteChunk feedback: the steps before ``step_index`` are done."""
        self.tracker.on_progress(feedback_msg.feedback.step_index)

    def gripper_m(self) -> np.ndarray | None:
        """The gripper's position now (base frame, m), None before the first joint states."""
        with self.lock:
            joints = self.joints
        return None if joints is None else self.kinematics.fk(joints)[:3, 3]

    # --- output -------------------------------------------------------------------------
    def publish(self) -> None:
        """Annotate the latest camera frame, if a new one came, and publish it."""
        with self.lock:
            msg, self.image_msg = self.image_msg, None
            camera, first_s = self.camera, self.first_image_s
        if msg is None:
            return
        if camera is None and time.monotonic() - (first_s or 0.0) > NO_INFO_WARNING_S:
            self.node.get_logger().warning(
                f"no camera_info on {self.info_topic}: {TOPIC} shows no path (publish the "
                "camera's calibration there, as camera drivers do)",
                throttle_duration_sec=30.0,
            )
        try:
            rgb = to_rgb(msg)
        except ImageConversionError:
            return  # the policy node reports unusable camera images
        drawn = draw_overlay(rgb, self.tracker.view(), camera, self.overlay)
        annotated = fill_image(Image(), drawn)
        annotated.header = msg.header
        if self.node.context.ok():
            self.pub.publish(annotated)
