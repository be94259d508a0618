"""Camera images in and out of the runtime: PIL or HxWx3 uint8 arrays, and base64 data URLs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re

import numpy as np
from PIL import Image

from vlm2vla_policy.runtime.errors import ImageInputError

ImageLike = Image.Image | np.ndarray
"""What the policy accepts as an image: a PIL image or an HxWx3 uint8 RGB array."""

MAX_IMAGE_PIXELS: int = 4096 * 4096
"""Largest decoded image (pixels) accepted from a data URL; larger ones are refused."""

_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|webp);base64,", re.IGNORECASE)


def as_pil_image(image: ImageLike) -> Image.Image:
    """Return ``image`` as an RGB PIL image; raise :class:`ImageInputError` for anything else."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ImageInputError(
                f"an image array must be HxWx3 uint8 RGB, got shape {image.shape} dtype "
                f"{image.dtype}; convert it (e.g. cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))"
            )
        return Image.fromarray(np.ascontiguousarray(image), mode="RGB")
    raise ImageInputError(
        f"an image must be a PIL.Image.Image or an HxWx3 uint8 numpy array, got "
        f"{type(image).__name__}"
    )


def image_key(image: Image.Image) -> str:
    """A content hash of an RGB image (size and pixels); equal images give equal keys."""
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(f"{image.size}".encode())
    return digest.hexdigest()


def encode_data_url(image: ImageLike, image_format: str = "png") -> str:
    """Encode an image as a ``data:image/...;base64,`` URL (``png`` lossless or ``jpeg``)."""
    pil = as_pil_image(image)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG" if image_format == "png" else "JPEG", quality=95)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/{image_format};base64,{encoded}"


def decode_data_url(url: str, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode a base64 image data URL into an RGB PIL image.

    Raises :class:`ImageInputError` for anything that is not a PNG/JPEG/WebP data URL, does not
    decode, or has more than ``max_pixels`` pixels (checked before the pixels are decoded).
    """
    if not isinstance(url, str) or not (match := _DATA_URL.match(url)):
        raise ImageInputError(
            "images must be data URLs 'data:image/png;base64,...' (png, jpeg or webp); "
            "remote URLs are not fetched"
        )
    try:
        raw = base64.b64decode(url[match.end() :], validate=True)
    except (binascii.Error, ValueError):
        raise ImageInputError("the image data URL is not valid base64") from None
    unreadable = (OSError, Image.DecompressionBombError, SyntaxError, ValueError)
    try:
        opened = Image.open(io.BytesIO(raw))
    except unreadable as exc:
        raise ImageInputError(f"the image data does not decode: {exc}") from None
    width, height = opened.size
    if width * height > max_pixels:
        raise ImageInputError(
            f"image of {width}x{height} pixels exceeds the limit of {max_pixels}; "
            "send a smaller image"
        )
    try:
        return opened.convert("RGB")
    except unreadable as exc:
        raise ImageInputError(f"the image data does not decode: {exc}") from None
