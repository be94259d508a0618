"""The numpy image path: every encoding, padded rows, both byte orders, bad messages."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from vlm2vla_policy.nodes.image_msgs import (
    ENCODINGS,
    ImageConversionError,
    compressed_to_rgb,
    image_to_rgb,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def encode(rgb: np.ndarray, encoding: str, pad: int, bigendian: bool) -> SimpleNamespace:
    """Build an Image-like message holding ``rgb`` in ``encoding`` (the inverse of the code)."""
    channels, kind, order = ENCODINGS[encoding]
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


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("bigendian", [False, True])
def test_every_encoding_stride_and_byte_order(encoding, pad, bigendian):
    out = image_to_rgb(encode(RGB, encoding, pad, bigendian))
    expected = np.repeat(RGB[:, :, :1], 3, axis=2) if ENCODINGS[encoding][2] is None else RGB
    assert out.dtype == np.uint8
    assert out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, expected)


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
