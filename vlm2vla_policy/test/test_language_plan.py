"""Motion plans and movement directions: writing from data, reading model text, checking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm2vla_policy.language import (
    PLAN_PHRASES,
    AxisMove,
    DirectionParseError,
    ErrorKind,
    GripperAction,
    LanguageConfig,
    MotionPlan,
    MovementDirection,
    PlanConfig,
    PlanParseError,
    check_plan,
    describe_steps,
    direction_from_displacement,
    format_direction,
    format_plan,
    parse_direction,
    parse_plan,
    plan_from_displacement,
    plan_from_steps,
)

displacement = st.tuples(*[st.floats(min_value=-0.2, max_value=0.2, allow_nan=False)] * 3)
VOCABULARY = PlanConfig(style="vocabulary")  # the closed-vocabulary option


def test_paper_example():
    plan = plan_from_displacement([0.02, 0.0, -0.06])
    assert format_plan(plan) == "move down and slightly forward"
    assert parse_plan("move down and slightly forward", VOCABULARY) == plan


def test_vocabulary_is_small_and_fixed():
    assert len(PLAN_PHRASES) == 15
    for phrase in PLAN_PHRASES:
        parse_plan(phrase, VOCABULARY)


@settings(max_examples=200, deadline=None)
@given(d=displacement, gripper=st.sampled_from([None, *GripperAction]))
def test_plan_from_data_round_trips_and_agrees_with_its_chunk(d, gripper):
    config = VOCABULARY
    plan = plan_from_displacement(d, gripper, config)
    assert parse_plan(format_plan(plan), config) == plan
    for axis, sign in enumerate(plan.directions):
        if abs(d[axis]) >= config.dead_zone_m:
            assert sign == (1 if d[axis] > 0 else -1)
        else:
            assert sign == 0
    before = 1.0 if gripper is GripperAction.CLOSE else 0.0
    after = {GripperAction.CLOSE: 0.0, GripperAction.OPEN: 1.0, None: before}[gripper]
    steps = [[*d, after]]
    assert check_plan(plan, steps, gripper_before=before, config=config).agrees


def test_largest_motion_first_and_slightly_below_threshold():
    plan = plan_from_displacement([0.015, -0.05, 0.005])
    assert format_plan(plan) == "move right and slightly forward"
    assert format_plan(plan_from_displacement([0, 0, 0])) == "stay still"
    assert (
        format_plan(plan_from_displacement([0, 0, 0], GripperAction.CLOSE)) == "close the gripper"
    )
    assert (
        format_plan(plan_from_displacement([0, 0, 0.04], GripperAction.OPEN))
        == "move up and open the gripper"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Move DOWN, then slightly forward.", "move down and slightly forward"),
        ("Plan: move the gripper down a little and move left", "move slightly down and left"),
        ("**move backwards** and close the gripper", "move backward and close the gripper"),
        ("close gripper", "close the gripper"),
        ("Stay still", "stay still"),
        ("stay still and open the gripper", "open the gripper"),
        ("move up and up", "move up"),
    ],
)
def test_tolerant_reading(text, expected):
    assert format_plan(parse_plan(text, VOCABULARY)) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", ErrorKind.EMPTY),
        ("  .  ", ErrorKind.EMPTY),
        ("move diagonally", ErrorKind.UNKNOWN_PHRASE),
        ("grasp the lid", ErrorKind.UNKNOWN_PHRASE),
        ("move left and right", ErrorKind.CONFLICT),
        ("open the gripper and close the gripper", ErrorKind.CONFLICT),
        ("stay still and move up", ErrorKind.CONFLICT),
        ("x" * 80 + ": move up", ErrorKind.PREAMBLE_TOO_LONG),
    ],
)
def test_plan_errors(text, kind):
    with pytest.raises(PlanParseError) as error:
        parse_plan(text, VOCABULARY)
    assert error.value.kind is kind


def test_check_plan_reports_disagreements():
    steps = [[0.03, 0.0, -0.04, 1.0], [0.0, 0.0, 0.0, 0.0]]
    assert check_plan(parse_plan("move down and forward and close the gripper"), steps).agrees
    result = check_plan(parse_plan("move up"), steps)
    assert not result.agrees
    assert any("up" in p for p in result.problems)
    assert any("forward" in p for p in result.problems)
    assert any("gripper" in p for p in result.problems)


def test_plan_from_steps_uses_gripper_before():
    steps = [[0.0, 0.0, -0.02, 0.0]]
    assert plan_from_steps(steps, gripper_before=1.0).gripper is GripperAction.CLOSE
    assert plan_from_steps(steps).gripper is None


def test_format_plan_refuses_repeated_axis():
    with pytest.raises(PlanParseError):
        format_plan(MotionPlan((AxisMove(0, 1), AxisMove(0, -1))))


def test_direction_from_displacement_and_reading():
    assert direction_from_displacement(0.03) is MovementDirection.LEFT
    assert direction_from_displacement(-0.03) is MovementDirection.RIGHT
    assert direction_from_displacement(0.001) is MovementDirection.NONE
    for direction in MovementDirection:
        assert parse_direction(format_direction(direction)) is direction
    assert parse_direction("The gripper should move Left.") is MovementDirection.LEFT
    assert parse_direction("No movement") is MovementDirection.NONE
    for text, kind in [("up", ErrorKind.NO_ANSWER), ("left or right", ErrorKind.CONFLICT)]:
        with pytest.raises(DirectionParseError) as error:
            parse_direction(text)
        assert error.value.kind is kind


PAPER_PLAN = "lift the pepper up to clear the stove knobs, then move forward and slightly right"


def test_free_plans_keep_their_words_and_name_their_directions():
    plan = parse_plan(PAPER_PLAN)
    assert format_plan(plan) == PAPER_PLAN and plan.text == PAPER_PLAN
    assert plan.directions == (1, -1, 1)
    assert [m.slight for m in plan.moves] == [False, False, True]  # up, forward, slightly right
    assert parse_plan(f"Plan: {PAPER_PLAN} ") == plan
    lifted = parse_plan("lift the pepper vertically (+dz), then lower it onto the plate")
    assert lifted.mixed_axes == (2,) and lifted.directions == (0, 0, 0)
    assert parse_plan("grasp the lid").gripper is GripperAction.CLOSE


def test_free_plans_are_checked_on_what_they_name():
    steps = [[0.03, -0.01, 0.04, 1.0]]
    assert check_plan(parse_plan(PAPER_PLAN), steps).agrees
    wrong = check_plan(parse_plan("move down toward the bowl"), steps)
    assert not wrong.agrees and any("down" in p for p in wrong.problems)
    back_and_forth = parse_plan("push forward, then pull back a little and lift up")
    assert check_plan(back_and_forth, [[0.0, 0.0, 0.04, 1.0]]).agrees


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", ErrorKind.EMPTY),
        ("Plan:  ", ErrorKind.EMPTY),
        ("move\x00 down", ErrorKind.CONTROL_CHARACTER),
        ("move down\nthen left", ErrorKind.CONTROL_CHARACTER),
        ("move \uff11 cm down", ErrorKind.CONTROL_CHARACTER),
        ("x" * 161, ErrorKind.TOO_MANY),
    ],
)
def test_free_plan_errors(text, kind):
    with pytest.raises(PlanParseError) as error:
        parse_plan(text)
    assert error.value.kind is kind


@settings(max_examples=200, deadline=None)
@given(d=displacement, gripper=st.sampled_from([None, *GripperAction]))
def test_described_plans_round_trip_and_agree_with_their_chunk(d, gripper):
    config = PlanConfig()
    before = 1.0 if gripper is GripperAction.CLOSE else 0.0
    after = {GripperAction.CLOSE: 0.0, GripperAction.OPEN: 1.0, None: before}[gripper]
    steps = [[*d, after]]
    plan = describe_steps(steps, before, config, target="the red block")
    assert plan.wording and len(plan.wording) <= config.max_chars
    assert parse_plan(format_plan(plan), config) == plan
    assert plan.directions == plan_from_steps(steps, before, config).directions
    assert check_plan(plan, steps, gripper_before=before, config=config).agrees


def test_described_plans_say_sizes_and_target():
    steps = [[0.02, 0.0, -0.06, 1.0], [0.0, 0.0, 0.0, 0.0]]
    plan = describe_steps(steps, 1.0, target="the lid")
    assert plan.text == (
        "move down about 6 cm and slightly forward toward the lid, then close the gripper"
    )
    assert (
        describe_steps(steps, 1.0, VOCABULARY).text
        == "move down and slightly forward and close the gripper"
    )


def test_version_1_language_configs_read_as_vocabulary_plans():
    old = LanguageConfig().to_dict()
    del old["plan"]["style"]
    old["format_version"] = 1
    assert LanguageConfig.from_dict(old).plan.style == "vocabulary"
    assert LanguageConfig.from_dict(LanguageConfig().to_dict()).plan.style == "free"
