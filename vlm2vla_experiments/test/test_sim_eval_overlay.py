"""vlm2vla-sim-eval's videos carry the overlay of policy_node's ~/debug_image."""

import imageio.v2 as imageio
import numpy as np

from vlm2vla_experiments.evaluation import RandomPolicy, SimEvalConfig, run_eval_episode
from vlm2vla_policy.overlay.drawing import EXECUTED, PENDING
from vlm2vla_sim.tasks import parse_task

NEAR = 80  # a gif's 256-colour palette shifts a small area's colour this much (sum over channels)


def near(frame: np.ndarray, colour) -> int:
    """How many pixels of ``frame`` have about ``colour``."""
    distance = np.abs(frame[:, :, :3].astype(int) - np.array(colour)).sum(axis=2)
    return int((distance < NEAR).sum())


def episode_frames(sim, tmp_path, overlay: bool) -> list[np.ndarray]:
    config = SimEvalConfig(episodes=1, max_cycles=1, verify=False, plot=False, overlay=overlay)
    task = parse_task("pick up the block")
    report = run_eval_episode(sim, RandomPolicy(seed=3), task, 1000, config, out_dir=tmp_path)
    return list(imageio.mimread(report.video))


def test_eval_video_shows_the_chunk_path_as_it_executes(sim, egl_renderer_works, tmp_path):
    frames = episode_frames(sim, tmp_path / "overlay", overlay=True)
    assert frames[0].shape[1] == 640  # enlarged for the text, as ~/debug_image
    assert near(frames[0], PENDING) == near(frames[0], EXECUTED) == 0  # no chunk yet: no path
    pending = [near(f, PENDING) for f in frames]
    executed = [near(f, EXECUTED) for f in frames]
    started = next(i for i, count in enumerate(pending) if count > 50)  # the chunk's path
    assert executed[started] < executed[-1]  # its steps turn green as the arm executes them
    assert pending[-1] < pending[started]
    plain = episode_frames(sim, tmp_path / "plain", overlay=False)
    assert plain[0].shape[1] == 320
    assert max(near(f, PENDING) + near(f, EXECUTED) for f in plain) < 50  # the scene alone
