"""Prompt messages, training pairs, format version and configuration round trip."""

from __future__ import annotations

import json

import pytest

from vlm2vla_policy.language import (
    FORMAT_VERSION,
    IMAGE_PLACEHOLDER,
    TEMPLATES,
    ChunkFormat,
    ConfigError,
    FormatVersionError,
    LanguageConfig,
    LanguageFormatError,
    MovementDirection,
    Stage,
    TextChunkCodec,
    check_format_version,
    chunk_example,
    chunk_prompt,
    direction_example,
    parse_output,
    plan_example,
    plan_from_displacement,
    subtasks_example,
    verification_example,
    verification_prompt,
)


def _images_and_text(messages):
    (message,) = messages
    assert message["role"] == "user"
    content = message["content"]
    images = [c for c in content if c == IMAGE_PLACEHOLDER]
    texts = [c["text"] for c in content if c["type"] == "text"]
    assert content[-1]["type"] == "text" and len(texts) == 1
    return len(images), texts[0]


def _examples():
    codec = TextChunkCodec()
    plan = plan_from_displacement([0.0, 0.0, -0.05])
    return [
        subtasks_example("Put the lid on the pot.", ["Grasp the lid", "place it on the pot"]),
        plan_example("Put the lid on the pot.", "grasp the lid", plan),
        chunk_example(
            "Put the lid on the pot.",
            "Grasp the lid",
            "Move down.",
            [[0.0, 0.0, -0.02, 1.0]],
            codec,
        ),
        verification_example("grasp the lid", False, "the gripper is empty", "lift the lid"),
        direction_example("Put the lid on the pot.", "grasp the lid", MovementDirection.LEFT),
    ]


def test_every_stage_has_a_template_and_an_example():
    examples = _examples()
    assert {e.stage for e in examples} == set(Stage) == set(TEMPLATES)
    for example in examples:
        images, text = _images_and_text(example.messages)
        assert images == example.stage.num_images
        assert "{" not in text
        conversation = example.conversation()
        assert conversation[-1] == {
            "role": "assistant",
            "content": [{"type": "text", "text": example.answer}],
        }
        json.dumps(conversation)
        parse_output(example.stage, example.answer)


def test_prompts_normalise_their_inputs_like_the_answers():
    _, text = _images_and_text(
        chunk_prompt("  Put  the lid\non the pot ", "Grasp the LID!", "Move DOWN.")
    )
    assert "Instruction: Put the lid on the pot\n" in text
    assert "Current subtask: grasp the lid\n" in text
    assert "Motion plan: Move DOWN.\n" in text  # a free plan keeps its words, as its answer does
    assert "centimetres" in text and "+x" in text


def test_verification_has_before_and_after_images():
    images, text = _images_and_text(verification_prompt("grasp the lid"))
    assert images == 2
    assert "before" in text and "after" in text and "next" not in text


def test_examples_answers_are_canonical():
    answers = [e.answer for e in _examples()]
    assert answers == [
        "1. grasp the lid\n2. place it on the pot",
        "move down",
        "[[0.0, 0.0, -2.0, 1]]",
        "no, the gripper is empty",
        "left",
    ]


def test_empty_fields_are_refused():
    with pytest.raises(LanguageFormatError):
        chunk_prompt("", "grasp", "move up")
    with pytest.raises(LanguageFormatError):
        chunk_prompt("task", "?!", "move up")


def test_format_version_and_config_round_trip():
    config = LanguageConfig(chunk=ChunkFormat(decimals=2, max_steps=8, encoding="at"))
    data = json.loads(json.dumps(config.to_dict()))
    assert data["format_version"] == FORMAT_VERSION
    assert LanguageConfig.from_dict(data) == config
    assert check_format_version(str(FORMAT_VERSION)) == FORMAT_VERSION
    with pytest.raises(FormatVersionError):
        check_format_version(FORMAT_VERSION + 1)
    with pytest.raises(FormatVersionError):
        LanguageConfig.from_dict({**data, "format_version": "v-next"})
    with pytest.raises(ConfigError):
        LanguageConfig.from_dict({"chunk": {"decimal": 1}})
    with pytest.raises(ConfigError):
        ChunkFormat(encoding="binary")
