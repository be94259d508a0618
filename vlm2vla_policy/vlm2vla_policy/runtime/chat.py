"""Chat prompts as the runtime passes them around, and their OpenAI wire form.

A :class:`ChatPrompt` is a list of chat messages in the Hugging Face form (``content`` a list of
``{"type": "image"}`` and ``{"type": "text", "text": ...}`` parts) plus the images, in the order
of their ``image`` parts. The texts come from :mod:`vlm2vla_policy.language`; the model's chat
template (applied by the processor) turns the messages into tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from vlm2vla_policy.runtime.errors import ImageInputError
from vlm2vla_policy.runtime.images import decode_data_url, encode_data_url

ROLES: tuple[str, ...] = ("system", "user", "assistant")
"""Chat roles a prompt may use."""


class ChatFormatError(ValueError):
    """A chat request does not have the OpenAI chat-completions shape this runtime accepts."""


@dataclass(frozen=True)
class ChatPrompt:
    """Messages plus the images their ``image`` parts refer to, in order."""

    # Chat messages: {"role": ..., "content": [{"type": "image"} | {"type": "text", "text": ...}]}.
    messages: tuple[dict[str, Any], ...]
    # RGB images, one per image part, in order of appearance.
    images: tuple[Image.Image, ...] = ()

    def __post_init__(self) -> None:
        parts = sum(
            1
            for message in self.messages
            for part in _parts(message)
            if part.get("type") == "image"
        )
        if parts != len(self.images):
            raise ChatFormatError(
                f"the messages have {parts} image part(s) but {len(self.images)} image(s) were "
                "given; pass one image per {'type': 'image'} part"
            )


def user_prompt(text: str, images: tuple[Image.Image, ...] = ()) -> ChatPrompt:
    """One user message: the images first (so a shared prefix holds them), then ``text``."""
    content = [{"type": "image"} for _ in images] + [{"type": "text", "text": text}]
    return ChatPrompt(messages=({"role": "user", "content": content},), images=images)


def to_openai_messages(prompt: ChatPrompt, image_format: str = "png") -> list[dict[str, Any]]:
    """The prompt as OpenAI chat messages, each image inlined as a base64 data URL."""
    images = iter(prompt.images)
    messages = []
    for message in prompt.messages:
        content = []
        for part in _parts(message):
            if part.get("type") == "image":
                url = encode_data_url(next(images), image_format)
                content.append({"type": "image_url", "image_url": {"url": url}})
            else:
                content.append({"type": "text", "text": part["text"]})
        messages.append({"role": message["role"], "content": content})
    return messages


def from_openai_messages(messages: Any, max_images: int = 4) -> ChatPrompt:
    """Read OpenAI chat messages (JSON) into a :class:`ChatPrompt`; decode data-URL images.

    Raises :class:`ChatFormatError` for anything but a list of ``{"role", "content"}`` messages
    whose content is a string or a list of ``text``/``image_url`` parts, for more than
    ``max_images`` images, and for images that are not base64 data URLs.
    """
    if not isinstance(messages, list) or not messages:
        raise ChatFormatError("'messages' must be a non-empty list")
    prompt_messages = []
    images: list[Image.Image] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ChatFormatError(f"message {index} needs a 'role' in {ROLES}")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise ChatFormatError(f"message {index}: 'content' must be a string or a list")
        parts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "image_url":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if len(images) >= max_images:
                    raise ChatFormatError(f"at most {max_images} images per request")
                try:
                    images.append(decode_data_url(url))
                except ImageInputError as exc:
                    raise ChatFormatError(str(exc)) from None
                parts.append({"type": "image"})
            else:
                raise ChatFormatError(
                    f"message {index}: parts must be {{'type': 'text', 'text': str}} or "
                    "{'type': 'image_url', 'image_url': {'url': 'data:image/...'}}"
                )
        prompt_messages.append({"role": message["role"], "content": parts})
    return ChatPrompt(messages=tuple(prompt_messages), images=tuple(images))


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content", [])
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
