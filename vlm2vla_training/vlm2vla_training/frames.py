"""Camera frames of an episode, loaded lazily.

A :class:`FrameSequence` gives the number of frames, each frame as an RGB ``PIL.Image`` and each
frame as encoded bytes (JPEG or PNG) so that stores and datasets can copy a frame without decoding
and re-encoding it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FrameSequence(Protocol):
    """The frames of one camera, in time order; frame ``i`` is seen at observation ``i``."""

    def __len__(self) -> int:
        """Number of frames."""
        ...

    def image(self, index: int) -> Image.Image:
        """Frame ``index`` as an RGB image."""
        ...

    def encoded(self, index: int) -> bytes:
        """Frame ``index`` as JPEG or PNG bytes."""
        ...


def image_suffix(data: bytes) -> str:
    """File suffix (``".jpg"`` or ``".png"``) of encoded image bytes; raises on anything else."""
    if data.startswith(JPEG_MAGIC):
        return ".jpg"
    if data.startswith(PNG_MAGIC):
        return ".png"
    raise ValueError(
        f"frame bytes start with {data[:8]!r}, which is neither JPEG nor PNG; re-encode the frame"
    )


def decode_image(data: bytes) -> Image.Image:
    """Decode JPEG/PNG bytes fully into an RGB image (raises ``OSError`` on truncated data)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def encode_jpeg(array: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an ``(H, W, 3)`` uint8 RGB array (or ``(H, W)`` grey)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).convert("RGB").save(
        buffer, format="JPEG", quality=quality
    )
    return buffer.getvalue()


class FileFrames:
    """Frames stored as JPEG/PNG files; nothing is read until a frame is asked for."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> Image.Image:
        """Frame ``index`` decoded from its file, RGB."""
        return decode_image(self.encoded(index))

    def encoded(self, index: int) -> bytes:
        """The file's bytes, unchanged."""
        return self.paths[index].read_bytes()


class EncodedFrames:
    """Frames held in memory as JPEG/PNG bytes (e.g. from a bag or a parquet column)."""

    def __init__(self, blobs: Sequence[bytes]) -> None:
        self.blobs = list(blobs)

    def __len__(self) -> int:
        return len(self.blobs)

    def image(self, index: int) -> Image.Image:
        """Frame ``index`` decoded, RGB."""
        return decode_image(self.blobs[index])

    def encoded(self, index: int) -> bytes:
        """The stored bytes, unchanged."""
        return self.blobs[index]


class ArrayFrames:
    """Frames held in memory as uint8 RGB arrays; encoded to JPEG only when asked."""

    def __init__(self, arrays: Sequence[np.ndarray], jpeg_quality: int = 95) -> None:
        self.arrays = list(arrays)
        self.jpeg_quality = jpeg_quality

    def __len__(self) -> int:
        return len(self.arrays)

    def image(self, index: int) -> Image.Image:
        """Frame ``index`` as an RGB image (no compression)."""
        return Image.fromarray(np.ascontiguousarray(self.arrays[index])).convert("RGB")

    def encoded(self, index: int) -> bytes:
        """Frame ``index`` as JPEG bytes at ``jpeg_quality``."""
        return encode_jpeg(self.arrays[index], self.jpeg_quality)
