"""WidowX 250s kinematics, Bridge-style chunk execution and safety limits (no ROS).

Frames: poses are ``ee_gripper_link`` in ``wx250s/base_link`` as 4x4 arrays; metres, radians.
A controller node builds one :class:`ChunkExecutor`, calls :meth:`ChunkExecutor.start` per chunk
and :meth:`ChunkExecutor.tick` every ``ExecutorConfig.period_s``, and publishes what tick returns.
"""

from vlm2vla_policy.robot.bridge_state import GRIPPER_DOWN, KinematicEEState, bridge_rpy
from vlm2vla_policy.robot.description import (
    BRIDGE_NEUTRAL_JOINTS_RAD,
    BRIDGE_START_POSITION_M,
    WX250S,
    RobotDescription,
)
from vlm2vla_policy.robot.effort_guard import EffortGuard, EffortGuardConfig
from vlm2vla_policy.robot.executor import ChunkExecutor, ExecutorConfig, PeriodCommand
from vlm2vla_policy.robot.gripper import (
    GripperCommand,
    GripperConfig,
    GripperController,
    GripperMode,
)
from vlm2vla_policy.robot.joint_moves import PoseMove, PoseMoveConfig, PoseStep
from vlm2vla_policy.robot.kinematics import ArmKinematics, IKConfig, IKResult, IKStatus
from vlm2vla_policy.robot.safety import SafetyLimits
from vlm2vla_policy.robot.sampling import sample_reachable_joints
from vlm2vla_policy.robot.status import ControlOutcome, ControlStatus
from vlm2vla_policy.robot.transforms import matrix_to_quaternion_xyzw, pose_error
from vlm2vla_policy.robot.workspace import WorkspaceBounds

__all__ = [
    "BRIDGE_NEUTRAL_JOINTS_RAD",
    "BRIDGE_START_POSITION_M",
    "GRIPPER_DOWN",
    "WX250S",
    "ArmKinematics",
    "ChunkExecutor",
    "ControlOutcome",
    "ControlStatus",
    "EffortGuard",
    "EffortGuardConfig",
    "ExecutorConfig",
    "GripperCommand",
    "GripperConfig",
    "GripperController",
    "GripperMode",
    "IKConfig",
    "IKResult",
    "IKStatus",
    "KinematicEEState",
    "PeriodCommand",
    "PoseMove",
    "PoseMoveConfig",
    "PoseStep",
    "RobotDescription",
    "SafetyLimits",
    "WorkspaceBounds",
    "bridge_rpy",
    "matrix_to_quaternion_xyzw",
    "pose_error",
    "sample_reachable_joints",
]
