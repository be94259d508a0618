"""Images in and out of the runtime: arrays, PIL, data URLs, and what is refused."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from vlm2vla_policy.runtime.chat import (
    ChatFormatError,
    ChatPrompt,
    from_openai_messages,
    to_openai_messages,
    user_prompt,
)
from vlm2vla_policy.runtime.errors import ImageInputError
from vlm2vla_policy.runtime.images import as_pil_image, decode_data_url, encode_data_url


def test_arrays_and_pil_images_are_accepted(camera_image):
    pil = as_pil_image(camera_image)
    assert pil.size == (64, 48) and pil.mode == "RGB"
    assert np.array_equal(np.asarray(pil), camera_image)
    assert as_pil_image(pil.convert("L")).mode == "RGB"


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)],
)
def test_wrong_arrays_are_refused_with_the_expected_shape(bad):
    with pytest.raises(ImageInputError, match="HxWx3 uint8"):
        as_pil_image(bad)
    with pytest.raises(ImageInputError):
        as_pil_image("image.png")


def test_data_url_round_trip_is_lossless_in_png(camera_image):
    url = encode_data_url(camera_image)
    assert url.startswith("data:image/png;base64,")
    assert np.array_equal(np.asarray(decode_data_url(url)), camera_image)


def test_remote_urls_garbage_and_huge_images_are_refused():
    with pytest.raises(ImageInputError, match="not fetched"):
        decode_data_url("https://example.com/cat.png")
    with pytest.raises(ImageInputError, match="base64"):
        decode_data_url("data:image/png;base64,@@@")
    with pytest.raises(ImageInputError, match="does not decode"):
        decode_data_url("data:image/png;base64," + base64.b64encode(b"not a png").decode())
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200)).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    with pytest.raises(ImageInputError, match="exceeds"):
        decode_data_url(url, max_pixels=100 * 100)


def test_openai_message_round_trip(camera_image):
    prompt = user_prompt("what now?", (as_pil_image(camera_image),))
    wire = to_openai_messages(prompt)
    assert wire[0]["content"][0]["type"] == "image_url"
    back = from_openai_messages(wire)
    assert back.messages == prompt.messages
    assert np.array_equal(np.asarray(back.images[0]), camera_image)


def test_malformed_chat_requests_are_refused():
    with pytest.raises(ChatFormatError):
        from_openai_messages([])
    with pytest.raises(ChatFormatError, match="role"):
        from_openai_messages([{"role": "robot", "content": "hi"}])
    with pytest.raises(ChatFormatError, match="parts must be"):
        from_openai_messages([{"role": "user", "content": [{"type": "audio"}]}])
    with pytest.raises(ChatFormatError, match="image part"):
        ChatPrompt(messages=({"role": "user", "content": [{"type": "image"}]},), images=())
