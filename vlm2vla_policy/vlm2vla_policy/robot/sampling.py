"""Random arm configurations whose EE lies in a workspace (for tests, benchmarks, calibration)."""

from __future__ import annotations

import numpy as np

from vlm2vla_policy.robot.kinematics import ArmKinematics
from vlm2vla_policy.robot.workspace import WorkspaceBounds


def sample_reachable_joints(
    kinematics: ArmKinematics,
    workspace: WorkspaceBounds,
    count: int,
    rng: np.random.Generator,
    max_draws: int = 1_000_000,
) -> np.ndarray:
    """Draw joints uniformly within the limits, keeping those whose EE is inside ``workspace``.

    Returns a (count, n) array (rad). Raises ValueError when ``max_draws`` draws do not give
    ``count`` samples, which means the workspace is (nearly) out of reach: widen it.
    """
    robot = kinematics.robot
    kept: list[np.ndarray] = []
    for _ in range(max_draws):
        joints = rng.uniform(robot.lower_limits, robot.upper_limits)
        if workspace.contains(kinematics.fk(joints)[:3, 3]):
            kept.append(joints)
            if len(kept) == count:
                return np.array(kept)
    raise ValueError(
        f"only {len(kept)} of {count} configurations reached the workspace in {max_draws} draws; "
        "the workspace is (nearly) out of reach: widen it"
    )
