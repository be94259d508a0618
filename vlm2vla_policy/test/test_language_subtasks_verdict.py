"""Subtask lists and verification answers: canonical writers and tolerant readers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm2vla_policy.language import (
    ErrorKind,
    SubtaskConfig,
    SubtasksParseError,
    Verdict,
    VerdictParseError,
    format_subtasks,
    format_verdict,
    normalize_subtask,
    parse_subtasks,
    parse_verdict,
)

words = st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=6)
subtask_lists = st.lists(words.map(" ".join), min_size=1, max_size=10)


@settings(max_examples=150, deadline=None)
@given(subtasks=subtask_lists)
def test_subtasks_round_trip(subtasks):
    assert parse_subtasks(format_subtasks(subtasks)) == subtasks


def test_subtasks_canonical_form():
    text = format_subtasks(["Grasp the lid.", "  lift   the robot's lid!"])
    assert text == "1. grasp the lid\n2. lift the robots lid"


@pytest.mark.parametrize(
    "text",
    [
        "1. grasp the lid\n2. lift the lid",
        "Subtasks:\n\n1) Grasp the lid.\n2) Lift the lid.\n",
        "```\n1. **grasp** the lid\n2. lift the lid\n```",
        "- grasp the lid\n- lift the lid",
        "Step 1: grasp the lid\nStep 2: lift the lid",
    ],
)
def test_subtasks_tolerant_reading(text):
    assert parse_subtasks(text) == ["grasp the lid", "lift the lid"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", ErrorKind.EMPTY),
        ("grasp the lid", ErrorKind.EMPTY),
        ("1. grasp\n3. lift", ErrorKind.BAD_NUMBERING),
        ("2. grasp", ErrorKind.BAD_NUMBERING),
        ("1. !!!", ErrorKind.EMPTY),
        ("1. a\nthen done", ErrorKind.TRAILING_TEXT),
        ("x" * 300 + "\n1. a", ErrorKind.PREAMBLE_TOO_LONG),
        ("\n".join(f"{i}. a" for i in range(1, 12)), ErrorKind.TOO_MANY),
    ],
)
def test_subtasks_errors(text, kind):
    with pytest.raises(SubtasksParseError) as error:
        parse_subtasks(text)
    assert error.value.kind is kind


def test_subtask_writer_refuses_bad_lists():
    for subtasks in ([], ["a"] * 11, ["..."]):
        with pytest.raises(SubtasksParseError):
            format_subtasks(subtasks, SubtaskConfig())
    assert normalize_subtask("Put the Cup-Holder in") == "put the cup holder in"


@settings(max_examples=100, deadline=None)
@given(done=st.booleans(), reason=words.map(" ".join) | st.just(""))
def test_verdict_round_trip(done, reason):
    assert parse_verdict(format_verdict(done, reason)) == Verdict(done, reason)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", Verdict(True)),
        ("No.", Verdict(False)),
        ("**Yes**, the lid is on the table.", Verdict(True, "the lid is on the table")),
        ("Answer: no - the gripper is empty", Verdict(False, "the gripper is empty")),
        ("no, yes", Verdict(False, "yes")),
    ],
)
def test_verdict_tolerant_reading(text, expected):
    assert parse_verdict(text) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("maybe", ErrorKind.NO_ANSWER),
        ("", ErrorKind.NO_ANSWER),
        (
            "The robot moved the lid to the table and then, after a while, yes",
            ErrorKind.PREAMBLE_TOO_LONG,
        ),
    ],
)
def test_verdict_errors(text, kind):
    with pytest.raises(VerdictParseError) as error:
        parse_verdict(text)
    assert error.value.kind is kind
