"""Chunk execution with Bridge semantics: subdivision, clipping, freezing, stops, gripper events."""

import math
import time

import numpy as np
import pytest

from vlm2vla_policy.robot import (
    BRIDGE_NEUTRAL_JOINTS_RAD,
    GRIPPER_DOWN,
    WX250S,
    ArmKinematics,
    ChunkExecutor,
    ControlStatus,
    ExecutorConfig,
    GripperMode,
    PeriodCommand,
    WorkspaceBounds,
)

KIN = ArmKinematics(WX250S)
PERIOD_S = ExecutorConfig().period_s


@pytest.fixture(scope="module")
def start_joints() -> np.ndarray:
    """Bridge's start pose: EE at (0.3, 0, 0.15) m, gripper pointing down."""
    target = np.eye(4)
    target[:3, :3] = GRIPPER_DOWN
    target[:3, 3] = (0.3, 0.0, 0.15)
    result = KIN.ik(target, np.array(BRIDGE_NEUTRAL_JOINTS_RAD))
    assert result.ok
    return result.joints_rad


class FollowingArm:
    """An arm that reaches every command by the next period (measured = last command)."""

    def __init__(self, joints: np.ndarray) -> None:
        self.joints = joints.copy()
        self.now_s = 100.0

    def tick(self, executor: ChunkExecutor) -> PeriodCommand:
        out = executor.tick(self.joints, self.now_s, self.now_s)
        if out.joints_rad is not None:
            self.joints = out.joints_rad
        self.now_s += PERIOD_S
        return out

    def run(self, executor: ChunkExecutor, max_periods: int = 200) -> list[PeriodCommand]:
        outputs = []
        for _ in range(max_periods):
            outputs.append(self.tick(executor))
            if outputs[-1].finished:
                return outputs
        raise AssertionError("chunk did not finish")


def execute(chunk, joints, config=None) -> tuple[ChunkExecutor, list[PeriodCommand]]:
    executor = ChunkExecutor(config or ExecutorConfig())
    assert executor.start(np.array(chunk, dtype=float), joints).ok
    return executor, FollowingArm(joints).run(executor)


def positions(outputs: list[PeriodCommand]) -> np.ndarray:
    return np.array([out.ee_position_m for out in outputs])


def test_a_4cm_step_takes_four_1cm_periods(start_joints):
    start = KIN.fk(start_joints)[:3, 3]
    _, outputs = execute([[0.04, 0.0, 0.0, 1.0]], start_joints)
    assert len(outputs) == 4
    assert all(out.status is ControlStatus.OK and out.joints_rad is not None for out in outputs)
    assert [out.finished for out in outputs] == [False, False, False, True]
    assert outputs[-1].succeeded and outputs[-1].steps_done == 1
    path = np.vstack([start, positions(outputs)])
    assert np.allclose(np.diff(path, axis=0), [0.01, 0.0, 0.0])


def test_no_period_moves_the_target_more_than_max_step(start_joints):
    rng = np.random.default_rng(0)
    chunk = np.column_stack([rng.uniform(-0.03, 0.03, (8, 3)), rng.integers(0, 2, 8)])
    _, outputs = execute(chunk, start_joints)
    path = np.vstack([KIN.fk(start_joints)[:3, 3], positions(outputs)])
    assert np.max(np.linalg.norm(np.diff(path, axis=0), axis=1)) <= 0.01 + 1e-12
    assert outputs[-1].succeeded and outputs[-1].steps_done == 8
    expected_periods = sum(max(1, math.ceil(np.linalg.norm(d) / 0.01 - 1e-9)) for d in chunk[:, :3])
    assert len(outputs) == expected_periods


def test_commands_reach_the_target(start_joints):
    _, outputs = execute([[0.02, -0.03, -0.04, 1.0]], start_joints)
    for out in outputs:
        assert np.linalg.norm(KIN.fk(out.joints_rad)[:3, 3] - out.ee_target[:3, 3]) < 1e-3


def test_a_zero_step_holds_for_one_period(start_joints):
    _, outputs = execute([[0.0, 0.0, 0.0, 0.0]], start_joints)
    assert len(outputs) == 1
    assert outputs[0].joints_rad is not None
    assert np.allclose(outputs[0].ee_position_m, KIN.fk(start_joints)[:3, 3])


def test_each_step_is_clipped_to_5cm_per_axis(start_joints):
    executor = ChunkExecutor()
    verdict = executor.start(np.array([[0.2, 0.0, 0.0, 1.0]]), start_joints)
    assert verdict.ok and "clipped" in verdict.reason
    outputs = FollowingArm(start_joints).run(executor)
    assert len(outputs) == 5
    moved = np.array(outputs[-1].ee_position_m) - KIN.fk(start_joints)[:3, 3]
    assert np.allclose(moved, [0.05, 0.0, 0.0])


def test_target_outside_the_workspace_is_clipped(start_joints):
    # The y bound is -0.15 m: 4 cm steps to the right from y = 0 reach -0.12, then stop at -0.15.
    _, outputs = execute([[0.0, -0.04, 0.0, 1.0]] * 5, start_joints)
    assert outputs[-1].succeeded
    assert outputs[-1].ee_position_m[1] == pytest.approx(WorkspaceBounds().y_m[0])
    clipped = [out for out in outputs if out.step_index >= 3]
    assert all(out.status is ControlStatus.WORKSPACE_CLIPPED for out in clipped)
    assert all(out.joints_rad is not None for out in clipped)
    assert "y" in clipped[0].reason
    assert all(out.status is ControlStatus.OK for out in outputs if out.step_index < 3)


def test_ik_failure_freezes_the_target_and_stops(start_joints):
    # Without workspace clipping, 5 cm steps forward leave the arm's reach (~0.46 m here).
    config = ExecutorConfig(workspace=None)
    executor, outputs = execute([[0.05, 0.0, 0.0, 1.0]] * 6, start_joints, config)
    last, before = outputs[-1], outputs[-2]
    assert last.status is ControlStatus.IK_FAILED
    assert last.finished and not last.succeeded
    assert last.joints_rad is None and last.gripper is None
    assert "target stays" in last.reason
    assert np.array_equal(last.ee_target, before.ee_target)
    assert np.array_equal(executor.target, before.ee_target)
    assert last.steps_done < 6
    idle = executor.tick(start_joints, 0.0, 0.0)
    assert idle.status is ControlStatus.IDLE and idle.joints_rad is None
    assert np.array_equal(idle.ee_target, before.ee_target)


def test_joint_limit_stops_without_a_command(start_joints):
    # Straight up with the gripper kept pointing down runs the wrist_angle into its limit.
    config = ExecutorConfig(workspace=None)
    _, outputs = execute([[0.0, 0.0, 0.05, 1.0]] * 6, start_joints, config)
    last = outputs[-1]
    assert last.status is ControlStatus.JOINT_LIMIT
    assert last.joints_rad is None
    assert "wrist_angle" in last.reason
    assert np.array_equal(last.ee_target, outputs[-2].ee_target)
    for out in outputs[:-1]:
        assert np.all(out.joints_rad <= WX250S.upper_limits)
        assert np.all(out.joints_rad >= WX250S.lower_limits)


def test_velocity_limit_stops_without_a_command(start_joints):
    executor = ChunkExecutor()
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints).ok
    target_before = executor.target
    # The arm was pushed 0.8 rad about the waist: reaching the target in one 0.2 s period would
    # take 4 rad/s, beyond the pi rad/s limit.
    pushed = start_joints + np.array([0.8, 0.0, 0.0, 0.0, 0.0, 0.0])
    out = executor.tick(pushed, 0.0, 0.0)
    assert out.status is ControlStatus.VELOCITY_LIMIT
    assert out.joints_rad is None and out.gripper is None and out.finished
    assert "waist" in out.reason
    assert np.array_equal(executor.target, target_before)


@pytest.mark.parametrize(
    ("joints", "stamp_s", "status"),
    [
        ("start", 99.0, ControlStatus.STALE_JOINT_STATES),
        ("start", 101.0, ControlStatus.STALE_JOINT_STATES),
        (None, 100.0, ControlStatus.STALE_JOINT_STATES),
        ("nan", 100.0, ControlStatus.INVALID_INPUT),
    ],
    ids=["old", "future", "missing", "nan"],
)
def test_bad_joint_measurements_stop_without_a_command(start_joints, joints, stamp_s, status):
    measured = {"start": start_joints, None: None, "nan": np.full(6, np.nan)}[joints]
    executor = ChunkExecutor()
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints).ok
    out = executor.tick(measured, stamp_s, 100.0)
    assert out.status is status
    assert out.joints_rad is None and out.finished and out.reason


def test_gripper_event_is_sent_once_per_change(start_joints):
    chunk = [
        [0.02, 0.0, 0.0, 1.0],  # first value always sent: open
        [0.02, 0.0, 0.0, 0.9],  # still open: nothing
        [0.0, 0.0, -0.01, 0.0],  # close
        [0.0, 0.0, 0.01, 0.2],  # still closed: nothing
        [0.0, 0.0, 0.01, 0.5],  # open (threshold 0.5)
    ]
    executor, outputs = execute(chunk, start_joints)
    events = [(out.step_index, out.gripper) for out in outputs if out.gripper is not None]
    assert [(step, cmd.open) for step, cmd in events] == [(0, True), (2, False), (4, True)]
    # Sent with the last period of its step, after the motion.
    for step, _ in events:
        assert [out for out in outputs if out.step_index == step][-1].gripper is not None
    assert events[0][1].mode is GripperMode.PWM
    assert events[0][1].value == 350.0 and events[1][1].value == -350.0
    # The state carries over to the next chunk: still open, so no new event.
    assert executor.start(np.array([[0.0, 0.0, 0.0, 1.0]]), None).ok
    out = FollowingArm(outputs[-1].joints_rad).run(executor)
    assert all(o.gripper is None for o in out)


def test_gripper_event_can_come_with_the_first_period(start_joints):
    config = ExecutorConfig(gripper_after_motion=False)
    _, outputs = execute([[0.03, 0.0, 0.0, 0.0]], start_joints, config)
    assert [out.gripper is not None for out in outputs] == [True, False, False]


def test_rotation_deltas_need_the_flag(start_joints):
    chunk = np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 1.0]])
    verdict = ChunkExecutor().start(chunk, start_joints)
    assert verdict.status is ControlStatus.INVALID_INPUT
    assert "use_rotation" in verdict.reason

    _, outputs = execute(chunk, start_joints, ExecutorConfig(use_rotation=True))
    assert len(outputs) == 4  # 0.2 rad at 0.05 rad per period
    start = KIN.fk(start_joints)
    final = outputs[-1].ee_target
    assert np.allclose(final[:3, 3], start[:3, 3])
    yaw = np.array(
        [[math.cos(0.2), -math.sin(0.2), 0], [math.sin(0.2), math.cos(0.2), 0], [0, 0, 1]]
    )
    assert np.allclose(final[:3, :3], yaw @ start[:3, :3])
    assert np.allclose(KIN.fk(outputs[-1].joints_rad), final, atol=1e-3)


def test_target_persists_between_chunks(start_joints):
    executor = ChunkExecutor()
    x0 = KIN.fk(start_joints)[0, 3]
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints).ok
    arm = FollowingArm(start_joints)
    arm.run(executor)
    # The arm lags (measured still at the start), yet the next chunk continues from the target.
    arm.joints = start_joints
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints).ok
    out = arm.run(executor)[-1]
    assert out.ee_position_m[0] == pytest.approx(x0 + 0.02)
    assert executor.reset_target(start_joints).ok
    assert executor.target[0, 3] == pytest.approx(x0)


@pytest.mark.parametrize(
    "chunk",
    [
        np.zeros((0, 4)),
        np.zeros(4),
        np.zeros((2, 5)),
        np.array([[0.01, np.nan, 0.0, 1.0]]),
        [["left", 0, 0, 1]],
    ],
    ids=["empty", "1d", "five_columns", "nan", "text"],
)
def test_malformed_chunks_are_refused(start_joints, chunk):
    executor = ChunkExecutor()
    verdict = executor.start(chunk, start_joints)
    assert verdict.status is ControlStatus.INVALID_INPUT and verdict.reason
    assert not executor.active
    assert executor.tick(start_joints, 0.0, 0.0).status is ControlStatus.IDLE


def test_start_without_any_joints_is_refused():
    verdict = ChunkExecutor().start(np.array([[0.01, 0.0, 0.0, 1.0]]), None)
    assert verdict.status is ControlStatus.STALE_JOINT_STATES


def test_cancel_ends_the_chunk(start_joints):
    executor = ChunkExecutor()
    assert executor.start(np.array([[0.04, 0.0, 0.0, 1.0]]), start_joints).ok
    arm = FollowingArm(start_joints)
    arm.tick(executor)
    out = executor.cancel()
    assert out.status is ControlStatus.CANCELLED and out.finished and out.joints_rad is None
    assert out.steps_done == 0 and out.num_steps == 1
    assert arm.tick(executor).status is ControlStatus.IDLE
    assert executor.cancel().status is ControlStatus.IDLE


def test_estop_latches_until_released(start_joints):
    executor = ChunkExecutor()
    assert executor.start(np.array([[0.04, 0.0, 0.0, 1.0]]), start_joints).ok
    arm = FollowingArm(start_joints)
    arm.tick(executor)
    out = executor.estop("operator pressed stop")
    assert out.status is ControlStatus.ESTOPPED and out.finished
    assert arm.tick(executor).status is ControlStatus.ESTOPPED
    assert arm.tick(executor).joints_rad is None
    refused = executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), arm.joints)
    assert refused.status is ControlStatus.ESTOPPED and "operator" in refused.reason
    assert not executor.release_estop(None).ok
    assert executor.estopped
    assert executor.release_estop(start_joints).ok
    assert np.allclose(executor.target, KIN.fk(start_joints))
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints).ok
    assert arm.tick(executor).joints_rad is not None


def test_idle_executor_commands_nothing(start_joints):
    out = ChunkExecutor().tick(start_joints, 0.0, 0.0)
    assert out.status is ControlStatus.IDLE
    assert out.joints_rad is None and out.gripper is None and not out.finished
    assert out.ee_target is None


def test_target_quaternion_for_gripper_down(start_joints):
    _, outputs = execute([[0.0, 0.0, 0.0, 1.0]], start_joints)
    x, y, z, w = outputs[0].ee_quaternion_xyzw
    # Gripper down = +90 degrees about y.
    assert np.allclose(
        [x, y, z, w], [0.0, math.sin(math.pi / 4), 0.0, math.cos(math.pi / 4)], atol=1e-3
    )


def test_invalid_config_is_refused():
    with pytest.raises(ValueError, match="max_step_m"):
        ExecutorConfig(max_step_m=0.0)


# --- limits -------------------------------------------------------------------------------------
def test_a_chunk_with_too_many_steps_is_refused_before_any_per_step_work(start_joints):
    executor = ChunkExecutor()
    huge = np.tile([0.01, 0.0, 0.0, 1.0], (100_000, 1))
    began = time.perf_counter()
    verdict = executor.start(huge, start_joints)
    elapsed_s = time.perf_counter() - began
    assert verdict.status is ControlStatus.TOO_LONG
    assert "100000 steps" in verdict.reason and "max_chunk_steps = 100" in verdict.reason
    assert elapsed_s < 0.5, "the step count is checked before the steps are looked at"
    assert not executor.active
    assert executor.check_steps(100).ok and not executor.check_steps(101).ok


def test_a_chunk_longer_than_max_chunk_duration_is_refused(start_joints):
    # 10 steps of 5 cm at 1 cm per 0.2 s period: 50 periods, 10 s.
    chunk = np.tile([0.0, 0.0, 0.05, 1.0], (10, 1))
    assert ChunkExecutor(ExecutorConfig(max_chunk_duration_s=10.0)).start(chunk, start_joints).ok
    verdict = ChunkExecutor(ExecutorConfig(max_chunk_duration_s=9.9)).start(chunk, start_joints)
    assert verdict.status is ControlStatus.TOO_LONG
    assert "max_chunk_duration_s = 9.9" in verdict.reason and "50 control periods" in verdict.reason


def test_the_duration_estimate_counts_the_periods_a_chunk_takes(start_joints):
    rng = np.random.default_rng(1)
    chunk = np.column_stack([rng.uniform(-0.06, 0.06, (8, 3)), rng.integers(0, 2, 8)])
    executor = ChunkExecutor(ExecutorConfig(workspace=None))
    assert executor.start(chunk, start_joints).ok
    clipped = np.zeros((8, 7))
    clipped[:, :3] = np.clip(chunk[:, :3], -0.05, 0.05)
    assert executor.estimate_periods(clipped) == len(FollowingArm(start_joints).run(executor))


def test_invalid_limits_are_refused():
    with pytest.raises(ValueError, match="max_chunk_steps"):
        ExecutorConfig(max_chunk_steps=0)
    with pytest.raises(ValueError, match="max_chunk_duration_s"):
        ExecutorConfig(max_chunk_duration_s=0.0)


# --- streaming ----------------------------------------------------------------------------------
def test_a_streamed_chunk_holds_until_steps_arrive_and_runs_them_in_order(start_joints):
    executor = ChunkExecutor()
    start = KIN.fk(start_joints)[:3, 3]
    assert executor.start(np.zeros((0, 4)), start_joints, streaming=True).ok
    arm = FollowingArm(start_joints)
    waiting = arm.tick(executor)
    assert waiting.status is ControlStatus.WAITING
    assert waiting.joints_rad is None and not waiting.finished
    assert np.allclose(waiting.ee_position_m, start)

    assert not executor.append(np.array([[0.02, 0.0, 0.0, 1.0]]), first_index=0).finished
    outputs = [arm.tick(executor) for _ in range(3)]
    assert [out.joints_rad is not None for out in outputs] == [True, True, False]
    assert outputs[-1].status is ControlStatus.WAITING and not outputs[-1].finished
    assert np.allclose(np.array(outputs[-1].ee_position_m) - start, [0.02, 0.0, 0.0])

    assert not executor.append(np.array([[0.0, 0.01, 0.0, 1.0]] * 2), first_index=1).finished
    assert not executor.close().finished, "two steps are still to execute"
    outputs = [arm.tick(executor) for _ in range(2)]
    assert [out.step_index for out in outputs] == [1, 2]
    assert outputs[-1].succeeded and outputs[-1].steps_done == 3 and outputs[-1].num_steps == 3
    assert np.allclose(np.array(outputs[-1].ee_position_m) - start, [0.02, 0.02, 0.0])
    assert arm.tick(executor).status is ControlStatus.IDLE


def test_closing_a_stream_whose_steps_are_all_executed_ends_it_at_once(start_joints):
    executor = ChunkExecutor()
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints, streaming=True).ok
    arm = FollowingArm(start_joints)
    assert arm.tick(executor).joints_rad is not None
    assert arm.tick(executor).status is ControlStatus.WAITING
    out = executor.close()
    assert out.succeeded and out.steps_done == 1 and out.joints_rad is None
    assert not executor.active


def test_a_stream_ended_with_an_error_runs_the_steps_received_then_fails(start_joints):
    executor = ChunkExecutor()
    chunk = np.array([[0.01, 0.0, 0.0, 1.0], [0.01, 0.0, 0.0, 1.0]])
    assert executor.start(chunk, start_joints, streaming=True).ok
    arm = FollowingArm(start_joints)
    arm.tick(executor)
    assert not executor.close("malformed text after step 2: 'qq'").finished
    commanded = arm.tick(executor)
    assert commanded.joints_rad is not None and not commanded.finished
    out = arm.tick(executor)
    assert out.finished and not out.succeeded and out.joints_rad is None
    assert out.status is ControlStatus.STREAM_ERROR and out.steps_done == 2
    assert out.reason == "producer ended the stream early: malformed text after step 2: 'qq'"


def test_a_gap_in_the_streamed_indices_stops_the_chunk(start_joints):
    executor = ChunkExecutor()
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints, streaming=True).ok
    out = executor.append(np.array([[0.01, 0.0, 0.0, 1.0]]), first_index=2)
    assert out.finished and out.status is ControlStatus.STEPS_LOST
    assert "steps lost" in out.reason and "index 2" in out.reason
    assert not executor.active


@pytest.mark.parametrize(
    ("steps", "status", "words"),
    [
        (np.array([[0.01, np.nan, 0.0, 1.0]]), ControlStatus.INVALID_INPUT, "NaN"),
        (np.zeros((1, 5)), ControlStatus.INVALID_INPUT, "shape"),
        (np.tile([0.0, 0.0, 0.01, 1.0], (100, 1)), ControlStatus.TOO_LONG, "max_chunk_steps"),
        (np.tile([0.0, 0.0, 0.05, 1.0], (60, 1)), ControlStatus.TOO_LONG, "max_chunk_duration_s"),
    ],
    ids=["nan", "shape", "too_many", "too_long"],
)
def test_bad_streamed_steps_stop_the_chunk(start_joints, steps, status, words):
    executor = ChunkExecutor()
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints, streaming=True).ok
    out = executor.append(steps, first_index=1)
    assert out.finished and out.status is status and out.joints_rad is None
    assert words in out.reason and "streamed" in out.reason
    assert FollowingArm(start_joints).tick(executor).status is ControlStatus.IDLE


def test_streamed_steps_are_clipped_like_a_chunk(start_joints):
    executor = ChunkExecutor()
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints, streaming=True).ok
    out = executor.append(np.array([[0.0, 0.0, 0.0, 1.0], [0.2, 0.0, 0.0, 1.0]]), first_index=1)
    assert not out.finished and "steps [2] clipped" in out.reason


def test_steps_for_a_chunk_that_is_not_streamed_stop_it(start_joints):
    executor = ChunkExecutor()
    assert executor.start(np.array([[0.01, 0.0, 0.0, 1.0]]), start_joints).ok
    out = executor.append(np.array([[0.01, 0.0, 0.0, 1.0]]), first_index=1)
    assert out.finished and out.status is ControlStatus.INVALID_INPUT and "closed" in out.reason


def test_only_a_streamed_chunk_may_start_empty(start_joints):
    assert ChunkExecutor().start(np.zeros((0, 4)), start_joints).status is (
        ControlStatus.INVALID_INPUT
    )
    assert ChunkExecutor().start(np.zeros((0, 4)), start_joints, streaming=True).ok
