"""``sensor_msgs`` images and camera info to and from numpy arrays, with OpenCV.

``Image`` and ``CompressedImage`` become an RGB ``uint8`` array (H x W x 3): raw images honour
``step`` (row stride, may exceed width x channels) and ``is_bigendian`` (16-bit encodings, scaled
down to 8 bits); compressed ones (JPEG, PNG) are decoded by ``cv2.imdecode``. The way back fills
an ``Image`` (rgb8) and a ``CameraInfo`` from a :class:`~vlm2vla_policy.overlay.PinholeCamera`.
The messages are duck-typed, so this module imports no ROS code and is tested without a graph.
"""

from typing import Any

import cv2
import numpy as np

from vlm2vla_policy.overlay.camera import PinholeCamera

# encoding -> (channels, dtype, OpenCV conversion to RGB, or None when already RGB)
ENCODINGS: dict[str, tuple[int, str, int | None]] = {
    "rgb8": (3, "u1", None),
    "bgr8": (3, "u1", cv2.COLOR_BGR2RGB),
    "rgba8": (4, "u1", cv2.COLOR_RGBA2RGB),
    "bgra8": (4, "u1", cv2.COLOR_BGRA2RGB),
    "mono8": (1, "u1", cv2.COLOR_GRAY2RGB),
    "8UC1": (1, "u1", cv2.COLOR_GRAY2RGB),
    "8UC3": (3, "u1", cv2.COLOR_BGR2RGB),  # OpenCV's default channel order is BGR
    "rgb16": (3, "u2", None),
    "bgr16": (3, "u2", cv2.COLOR_BGR2RGB),
    "mono16": (1, "u2", cv2.COLOR_GRAY2RGB),
    "16UC1": (1, "u2", cv2.COLOR_GRAY2RGB),
}


class ImageConversionError(ValueError):
    """An image message that cannot be turned into RGB (bad encoding, size or data)."""


def image_to_rgb(msg: Any) -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` to an H x W x 3 ``uint8`` RGB array (16-bit scaled down)."""
    if msg.encoding not in ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding {msg.encoding!r}; publish one of {sorted(ENCODINGS)}"
        )
    channels, kind, conversion = ENCODINGS[msg.encoding]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.step < row_bytes or len(msg.data) < msg.step * msg.height:
        raise ImageConversionError(
            f"image {msg.width}x{msg.height} {msg.encoding} needs step >= {row_bytes} and "
            f"{msg.step * msg.height} bytes; got step {msg.step} and {len(msg.data)} bytes"
        )
    rows = np.frombuffer(msg.data, np.uint8, msg.step * msg.height).reshape(msg.height, -1)
    pixels = rows[:, :row_bytes].view(dtype).reshape(msg.height, msg.width, channels)
    if dtype.itemsize == 2:
        pixels = (pixels >> 8).astype(np.uint8)  # the high byte, in native order
    if conversion is None:
        return np.array(pixels, dtype=np.uint8)  # a writable copy, not a view of the message
    return cv2.cvtColor(np.ascontiguousarray(pixels, dtype=np.uint8), conversion)


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) to an H x W x 3 ``uint8`` array."""
    data = np.frombuffer(msg.data, np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if len(data) else None
    if bgr is None:
        raise ImageConversionError(
            f"cannot decode compressed image (format {msg.format!r}, {len(data)} bytes): "
            "not a JPEG or PNG OpenCV can read"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def to_rgb(msg: Any) -> np.ndarray:
    """Convert either image message (told apart by ``format``) to RGB."""
    return compressed_to_rgb(msg) if hasattr(msg, "format") else image_to_rgb(msg)


def fill_image(msg: Any, rgb: np.ndarray) -> Any:
    """Fill a ``sensor_msgs/Image`` with an H x W x 3 ``uint8`` RGB array (rgb8); returns it."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding, msg.is_bigendian, msg.step = "rgb8", 0, rgb.shape[1] * 3
    msg.data = rgb.tobytes()
    return msg


def fill_camera_info(msg: Any, camera: PinholeCamera) -> Any:
    """Fill a ``sensor_msgs/CameraInfo`` with ``camera``'s intrinsics (monocular); returns it."""
    msg.width, msg.height = camera.width, camera.height
    msg.distortion_model = "plumb_bob"
    distortion = np.zeros(5)
    distortion[: min(5, len(camera.distortion))] = camera.distortion[:5]
    msg.d = distortion.tolist()
    msg.k = camera.k.ravel().tolist()
    msg.r = np.eye(3).ravel().tolist()
    msg.p = np.hstack([camera.k, np.zeros((3, 1))]).ravel().tolist()
    return msg


def camera_info_topic(image_topic: str) -> str:
    """The ``camera_info`` topic beside an image topic, as image_transport pairs them.

    ``/camera/image_raw`` -> ``/camera/camera_info`` (a ``/compressed`` suffix is the same
    image's transport: ``/camera/image_raw/compressed`` -> ``/camera/camera_info``); relative
    stays relative.
    """
    base = image_topic.removesuffix("/compressed")
    namespace, slash, _ = base.rpartition("/")
    return f"{namespace}{slash}camera_info"
