"""Dataset rows -> model inputs whose labels cover only the answer tokens.

The prompt is rendered exactly as the runtime renders it for generation
(:meth:`vlm2vla_policy.runtime.generation.GenerationEngine.encode`: the processor's chat template
with the generation prompt, then the processor on text + images without extra special tokens), so
the model is trained on the very token sequence it sees at inference. The answer is the rest of
the chat template's rendering of the whole conversation, tokenised on its own (the runtime
generates it token by token after the prompt), up to and including the end-of-turn token the
runtime stops on. Prompt tokens get the label -100 (no loss), answer tokens their ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from vlm2vla_policy.runtime.chat import ChatPrompt

IGNORE_INDEX = -100
"""Label of a token that carries no loss (PyTorch cross-entropy's ignore_index)."""

AnswerRewrite = Callable[[str, str], str]
"""``rewrite(stage, answer) -> answer``: e.g. writing chunk digits with the AT tokens."""


@dataclass(frozen=True)
class EncodedSample:
    """One training sequence."""

    # Token ids: prompt (with the image tokens) then answer.
    input_ids: list[int]
    # IGNORE_INDEX on the prompt, the token id on the answer.
    labels: list[int]
    # 1 on image tokens (Gemma-3 attends to them bidirectionally), else 0.
    token_type_ids: list[int]
    # Preprocessed images, (images, 3, H, W); None for a text-only prompt.
    pixel_values: torch.Tensor | None
    # True when the answer had to be cut to fit max_seq_len.
    truncated: bool


def clean_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the chat template expects them: Arrow's filler ``None`` keys removed."""
    return [
        {
            "role": message["role"],
            "content": [
                {key: value for key, value in part.items() if value is not None}
                for part in message["content"]
            ],
        }
        for message in messages
    ]


def replace_answer(messages: list[dict[str, Any]], answer: str) -> list[dict[str, Any]]:
    """``messages`` with the last (assistant) turn's text replaced by ``answer``."""
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("a training conversation must end with the assistant's answer")
    return [*messages[:-1], {"role": "assistant", "content": [{"type": "text", "text": answer}]}]


class ChatSampleEncoder:
    """Encodes chat conversations (user prompt with images, assistant answer) for training.

    ``max_seq_len`` bounds the whole sequence (tokens); an answer that does not fit is cut at the
    end (as TRL truncates), a prompt that alone does not fit is an error (cutting it would split
    image tokens from their image).
    """

    def __init__(self, processor: Any, max_seq_len: int) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.max_seq_len = max_seq_len

    def prompt_text(self, prompt_messages: list[dict[str, Any]]) -> str:
        """The prompt as the runtime renders it (chat template + generation prompt)."""
        return self.processor.apply_chat_template(
            prompt_messages, add_generation_prompt=True, tokenize=False
        )

    def answer_text(self, messages: list[dict[str, Any]], prompt_text: str) -> str:
        """What the model must write after the prompt: the answer and its end-of-turn token.

        Whatever the template puts after the end-of-turn token (a newline) is dropped: the
        runtime stops generating at that token and never sees it.
        """
        full = self.processor.apply_chat_template(messages, tokenize=False)
        if not full.startswith(prompt_text):
            raise ValueError(
                "the chat template renders the prompt differently with and without the answer, "
                "so answer tokens cannot be told from prompt tokens; use a Gemma-3 chat template"
            )
        return full[len(prompt_text) :].rstrip()

    def encode(
        self, messages: list[dict[str, Any]], images: Sequence[Image.Image]
    ) -> EncodedSample:
        """Encode one conversation whose last message is the assistant's answer."""
        prompt = ChatPrompt(messages=tuple(messages[:-1]), images=tuple(images))
        prompt_text = self.prompt_text(list(prompt.messages))
        batch = self.processor(
            text=prompt_text,
            images=list(prompt.images) or None,
            return_tensors="pt",
            add_special_tokens=False,
        )
        prompt_ids = batch["input_ids"][0].tolist()
        answer = self.answer_text(messages, prompt_text)
        answer_ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
        room = self.max_seq_len - len(prompt_ids)
        if room <= 0:
            raise ValueError(
                f"a prompt has {len(prompt_ids)} tokens, max_seq_len is {self.max_seq_len}; "
                "raise max_seq_len (each image alone takes the model's image tokens)"
            )
        truncated = len(answer_ids) > room
        answer_ids = answer_ids[:room]
        token_types = batch.get("token_type_ids")
        prompt_types = token_types[0].tolist() if token_types is not None else [0] * len(prompt_ids)
        return EncodedSample(
            input_ids=prompt_ids + answer_ids,
            labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
            token_type_ids=prompt_types + [0] * len(answer_ids),
            pixel_values=batch.get("pixel_values"),
            truncated=truncated,
        )


class RowCollator:
    """``collate(rows) -> batch``: dataset rows to one right-padded batch of model inputs.

    Rows are dicts with ``stage``, ``messages`` and ``images`` (the dataset's columns);
    ``rewrite`` (optional) changes an answer before encoding (the AT encoding of chunks). The
    batch holds ``input_ids``, ``attention_mask``, ``token_type_ids``, ``labels``,
    ``pixel_values`` (when any row has images) and ``truncated`` (count of cut answers).
    """

    def __init__(self, encoder: ChatSampleEncoder, rewrite: AnswerRewrite | None = None) -> None:
        self.encoder = encoder
        self.rewrite = rewrite
        pad = encoder.tokenizer.pad_token_id
        self.pad_id = 0 if pad is None else int(pad)

    def encode_row(self, row: dict[str, Any]) -> EncodedSample:
        """Encode one dataset row (its answer rewritten when a rewrite is set)."""
        messages = clean_messages(row["messages"])
        if self.rewrite is not None:
            answer = messages[-1]["content"][0]["text"]
            messages = replace_answer(messages, self.rewrite(row["stage"], answer))
        images = [image.convert("RGB") for image in row["images"]]
        return self.encoder.encode(messages, images)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate ``rows`` into tensors (see the class docstring)."""
        return collate([self.encode_row(row) for row in rows], self.pad_id)


def collate(samples: list[EncodedSample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad ``samples`` into a batch; padding has attention 0 and label IGNORE_INDEX."""
    length = max(len(s.input_ids) for s in samples)

    def padded(values: list[int], fill: int) -> list[int]:
        return values + [fill] * (length - len(values))

    batch = {
        "input_ids": torch.tensor([padded(s.input_ids, pad_id) for s in samples]),
        "attention_mask": torch.tensor([padded([1] * len(s.input_ids), 0) for s in samples]),
        "token_type_ids": torch.tensor([padded(s.token_type_ids, 0) for s in samples]),
        "labels": torch.tensor([padded(s.labels, IGNORE_INDEX) for s in samples]),
        "truncated": torch.tensor(sum(s.truncated for s in samples)),
    }
    pixels = [s.pixel_values for s in samples if s.pixel_values is not None]
    if pixels:
        batch["pixel_values"] = torch.cat(pixels)
    return batch
