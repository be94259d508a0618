"""Image messages through OpenCV: every encoding, padded rows, both byte orders, bad messages,
compressed images, and the way back (Image, CameraInfo, the camera_info topic)."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from vlm2vla_policy.nodes.image_msgs import (
    ENCODINGS,
    ImageConversionError,
    camera_info_topic,
    compressed_to_rgb,
    fill_camera_info,
    fill_image,
    image_to_rgb,
)
from vlm2vla_policy.overlay import PinholeCamera

# How each encoding lays out channels (the test's own table, not the module's): channel count,
# sample type, where R, G and B sit (None: grey).
LAYOUT = {
    "rgb8": (3, "u1", (0, 1, 2)), "bgr8": (3, "u1", (2, 1, 0)), "rgba8": (4, "u1", (0, 1, 2)),
    "bgra8": (4, "u1", (2, 1, 0)), "mono8": (1, "u1", None), "8UC1": (1, "u1", None),
    "8UC3": (3, "u1", (2, 1, 0)), "rgb16": (3, "u2", (0, 1, 2)), "bgr16": (3, "u2", (2, 1, 0)),
    "mono16": (1, "u2", None), "16UC1": (1, "u2", None),
}  # fmt: skip
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def encode(rgb: np.ndarray, encoding: str, pad: int, bigendian: bool) -> SimpleNamespace:
    """Build an Image-like message holding ``rgb`` in ``encoding`` (the inverse of the code)."""
    channels, kind, order = LAYOUT[encoding]
    if order is None:
        pixels = rgb[:, :, :1]
    else:
        pixels = np.zeros((*rgb.shape[:2], channels), np.uint8)
        pixels[:, :, list(order)] = rgb
        if channels == 4:
            pixels[:, :, 3] = 255
    dtype = np.dtype(kind).newbyteorder(">" if bigendian else "<")
    values = pixels.astype(dtype) * (257 if dtype.itemsize == 2 else 1)
    rows = values.astype(dtype).tobytes()
    row_bytes = rgb.shape[1] * channels * dtype.itemsize
    step = row_bytes + pad
    data = b"".join(
        rows[r * row_bytes : (r + 1) * row_bytes] + b"\xab" * pad for r in range(rgb.shape[0])
    )
    return SimpleNamespace(
        height=rgb.shape[0], width=rgb.shape[1], encoding=encoding,
        is_bigendian=int(bigendian), step=step, data=data,
    )  # fmt: skip


def test_the_module_speaks_every_encoding_of_the_table():
    assert sorted(ENCODINGS) == sorted(LAYOUT)


@pytest.mark.parametrize("encoding", sorted(LAYOUT))
@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("bigendian", [False, True])
def test_every_encoding_stride_and_byte_order(encoding, pad, bigendian):
    out = image_to_rgb(encode(RGB, encoding, pad, bigendian))
    expected = np.repeat(RGB[:, :, :1], 3, axis=2) if LAYOUT[encoding][2] is None else RGB
    assert out.dtype == np.uint8
    assert out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, expected)
    out[0, 0] = 0  # a writable array of its own, not a view of the message's bytes


def test_unknown_encoding_and_short_data_are_rejected():
    msg = encode(RGB, "rgb8", 0, False)
    with pytest.raises(ImageConversionError, match="unsupported image encoding"):
        image_to_rgb(SimpleNamespace(**{**vars(msg), "encoding": "yuv422"}))
    with pytest.raises(ImageConversionError, match="bytes"):
        image_to_rgb(SimpleNamespace(**{**vars(msg), "data": msg.data[:-1]}))
    with pytest.raises(ImageConversionError, match="step"):
        image_to_rgb(SimpleNamespace(**{**vars(msg), "step": 3}))


def test_compressed_png_round_trips_and_garbage_is_rejected():
    buffer = io.BytesIO()
    Image.fromarray(RGB).save(buffer, format="PNG")
    msg = SimpleNamespace(format="png", data=buffer.getvalue())
    np.testing.assert_array_equal(compressed_to_rgb(msg), RGB)
    with pytest.raises(ImageConversionError, match="cannot decode"):
        compressed_to_rgb(SimpleNamespace(format="jpeg", data=b"not an image"))


def test_compressed_jpeg_decodes_close_to_the_original():
    smooth = np.zeros((32, 48, 3), np.uint8)
    smooth[:, :, 0] = np.linspace(0, 255, 48, dtype=np.uint8)  # a red ramp, left to right
    smooth[:, :, 2] = 200
    buffer = io.BytesIO()
    Image.fromarray(smooth).save(buffer, format="JPEG", quality=95)
    out = compressed_to_rgb(
        SimpleNamespace(format="rgb8; jpeg compressed bgr8", data=buffer.getvalue())
    )
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth).mean() < 3  # RGB order kept: red ramp, blue flat


def test_fill_image_round_trips_through_image_to_rgb():
    msg = fill_image(SimpleNamespace(), RGB)
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("rgb8", 7, 5, 21)
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


def test_camera_info_carries_the_camera_and_reads_back():
    k = np.array([[300.0, 0.0, 159.5], [0.0, 310.0, 119.5], [0.0, 0.0, 1.0]])
    camera = PinholeCamera(
        320, 240, k, np.eye(4), distortion=np.array([0.1, -0.05, 0.0, 0.0, 0.01])
    )
    info = fill_camera_info(SimpleNamespace(), camera)
    assert (info.width, info.height, info.distortion_model) == (320, 240, "plumb_bob")
    assert info.p[:3] == [300.0, 0.0, 159.5] and info.p[3] == 0.0
    back = PinholeCamera.from_camera_info(info, np.eye(4))
    np.testing.assert_array_equal(back.k, k)
    np.testing.assert_array_equal(back.distortion, camera.distortion)


@pytest.mark.parametrize(
    ("image", "info"),
    [
        ("/camera/image_raw", "/camera/camera_info"),
        ("/camera/image_raw/compressed", "/camera/camera_info"),
        ("/camera/camera/color/image_raw", "/camera/camera/color/camera_info"),
        ("camera/image_raw", "camera/camera_info"),
        ("image", "camera_info"),
    ],
)
def test_camera_info_topic_is_beside_the_image_topic(image, info):
    assert camera_info_topic(image) == info
