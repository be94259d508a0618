"""``sensor_msgs/Image`` and ``CompressedImage`` to an RGB ``uint8`` array (H x W x 3).

Uses ``cv_bridge`` where it is installed; otherwise an equivalent numpy conversion that honours
``step`` (row stride, may exceed width x channels) and ``is_bigendian`` (16-bit encodings). The
messages are duck-typed, so this module imports no ROS code and is tested without a graph.
"""

import io
from typing import Any

import numpy as np

# encoding -> (channels, dtype, channel order to RGB: indices, or None for grey)
ENCODINGS: dict[str, tuple[int, str, tuple[int, ...] | None]] = {
    "rgb8": (3, "u1", (0, 1, 2)),
    "bgr8": (3, "u1", (2, 1, 0)),
    "rgba8": (4, "u1", (0, 1, 2)),
    "bgra8": (4, "u1", (2, 1, 0)),
    "mono8": (1, "u1", None),
    "8UC1": (1, "u1", None),
    "8UC3": (3, "u1", (2, 1, 0)),  # OpenCV's default channel order is BGR
    "rgb16": (3, "u2", (0, 1, 2)),
    "bgr16": (3, "u2", (2, 1, 0)),
    "mono16": (1, "u2", None),
    "16UC1": (1, "u2", None),
}


class ImageConversionError(ValueError):
    """An image message that cannot be turned into RGB (bad encoding, size or data)."""


def image_to_rgb(msg: Any) -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` to an H x W x 3 ``uint8`` RGB array (16-bit scaled down)."""
    if msg.encoding not in ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding {msg.encoding!r}; publish one of {sorted(ENCODINGS)}"
        )
    channels, kind, order = ENCODINGS[msg.encoding]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.step < row_bytes or len(msg.data) < msg.step * msg.height:
        raise ImageConversionError(
            f"image {msg.width}x{msg.height} {msg.encoding} needs step >= {row_bytes} and "
            f"{msg.step * msg.height} bytes; got step {msg.step} and {len(msg.data)} bytes"
        )
    rows = np.frombuffer(bytes(msg.data), np.uint8, msg.step * msg.height).reshape(msg.height, -1)
    pixels = rows[:, :row_bytes].copy().view(dtype).reshape(msg.height, msg.width, channels)
    if dtype.itemsize == 2:
        pixels = (pixels.astype(np.uint32) >> 8).astype(np.uint8)
    if order is None:
        return np.repeat(pixels.astype(np.uint8), 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, list(order)], dtype=np.uint8)


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) to an H x W x 3 ``uint8`` array."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(bytes(msg.data))) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ImageConversionError(
            f"cannot decode compressed image (format {msg.format!r}): {err}"
        ) from err


def to_rgb(msg: Any) -> np.ndarray:
    """Convert either image message to RGB, through cv_bridge when it is installed."""
    compressed = hasattr(msg, "format")
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return compressed_to_rgb(msg) if compressed else image_to_rgb(msg)
    bridge = CvBridge()
    if compressed:
        return np.asarray(bridge.compressed_imgmsg_to_cv2(msg, "rgb8"))
    return np.asarray(bridge.imgmsg_to_cv2(msg, "rgb8"))
