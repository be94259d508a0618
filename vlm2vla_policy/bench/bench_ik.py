"""Benchmark wx250s inverse kinematics: this library's solver against modern_robotics.IKinSpace.

Both solve the same random poses: joints drawn uniformly within the limits, kept when the EE lies
inside the Bridge workspace, and solved from a seed perturbed uniformly by up to --perturb-rad per
joint (the controller seeds with the measured joints, a fraction of that away). A solve counts as
a success when it reports one, the joints are within the limits (angles wrapped to [-pi, pi]) and
the EE lands within 1 mm and 0.01 rad of the target.

Run from vlm2vla_policy/ (or anywhere once the package is installed):

    python -m bench.bench_ik --samples 2000 --out ik_bench.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from importlib import metadata
from pathlib import Path

import modern_robotics as mr
import numpy as np

from vlm2vla_policy.robot import (
    WX250S,
    ArmKinematics,
    IKConfig,
    WorkspaceBounds,
    pose_error,
    sample_reachable_joints,
)

POSITION_OK_M = 1e-3
ORIENTATION_OK_RAD = 1e-2
# Joint solutions this close count as the same (the tolerances allow ~1e-3 rad of difference).
SAME_JOINTS_RAD = 1e-2


def wrap(joints: np.ndarray) -> np.ndarray:
    return (joints + math.pi) % (2.0 * math.pi) - math.pi


def is_success(kin: ArmKinematics, joints: np.ndarray | None, target: np.ndarray) -> bool:
    if joints is None:
        return False
    if np.any(joints < WX250S.lower_limits) or np.any(joints > WX250S.upper_limits):
        return False
    position_m, angle_rad = pose_error(kin.fk(joints), target)
    return position_m <= POSITION_OK_M and angle_rad <= ORIENTATION_OK_RAD


def summarize(times_s: list[float], successes: int, total: int) -> dict[str, float]:
    ms = np.array(times_s) * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(np.mean(ms)),
        "success_rate": successes / total,
    }


def run(samples: int, perturb_rad: float, seed: int) -> dict[str, object]:
    kin = ArmKinematics(WX250S)
    config = IKConfig()
    rng = np.random.default_rng(seed)
    joints = sample_reachable_joints(kin, WorkspaceBounds(), samples, rng)
    seeds = np.clip(
        joints + rng.uniform(-perturb_rad, perturb_rad, joints.shape),
        WX250S.lower_limits,
        WX250S.upper_limits,
    )
    ours_s, theirs_s = [], []
    ours_ok = theirs_ok = theirs_converged = agree = both = 0
    for q, q0 in zip(joints, seeds, strict=True):
        target = kin.fk(q)
        start = time.perf_counter()
        result = kin.ik(target, q0, config)
        ours_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        mr_joints, converged = mr.IKinSpace(
            WX250S.screw_matrix,
            WX250S.home_pose,
            target,
            q0,
            config.orientation_tolerance_rad,
            config.position_tolerance_m,
        )
        theirs_s.append(time.perf_counter() - start)
        ours = is_success(kin, result.joints_rad, target)
        theirs = converged and is_success(kin, wrap(mr_joints), target)
        ours_ok += ours
        theirs_ok += theirs
        theirs_converged += converged
        if ours and theirs:
            both += 1
            agree += bool(np.allclose(result.joints_rad, wrap(mr_joints), atol=SAME_JOINTS_RAD))
    return {
        "samples": samples,
        "perturb_rad": perturb_rad,
        "seed": seed,
        "ours": summarize(ours_s, ours_ok, samples),
        "modern_robotics": {
            **summarize(theirs_s, theirs_ok, samples),
            "converged_rate": theirs_converged / samples,
        },
        "both_succeeded": both,
        "same_joints_when_both_succeed": agree / both if both else float("nan"),
        "speedup_median": float(np.median(theirs_s) / np.median(ours_s)),
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "numpy": np.__version__,
            "modern_robotics": metadata.version("modern_robotics"),
        },
    }


def print_table(report: dict[str, object]) -> None:
    print(
        f"IK on {report['samples']} reachable wx250s poses, seed perturbed by "
        f"<= {report['perturb_rad']} rad per joint"
    )
    print(f"{'solver':<18}{'median ms':>11}{'p99 ms':>9}{'success':>10}")
    for name in ("ours", "modern_robotics"):
        row = report[name]
        print(
            f"{name:<18}{row['median_ms']:>11.3f}{row['p99_ms']:>9.3f}"
            f"{row['success_rate'] * 100:>9.1f}%"
        )
    print(
        f"modern_robotics converged (ignoring joint limits): "
        f"{report['modern_robotics']['converged_rate'] * 100:.1f}%; "
        f"speed-up (median): {report['speedup_median']:.1f}x; same joints where both succeed: "
        f"{report['same_joints_when_both_succeed'] * 100:.1f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="number of poses to solve")
    parser.add_argument(
        "--perturb-rad", type=float, default=0.2, help="max seed perturbation per joint, rad"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", type=Path, help="write the results as JSON to this file")
    args = parser.parse_args()
    report = run(args.samples, args.perturb_rad, args.seed)
    print_table(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
