"""PNG plots of an evaluation (matplotlib, Agg backend: no display needed).

* :func:`plot_trajectories`: per base-frame axis, the cumulative displacement (cm) over the
  chunk steps of an episode, predicted vs true, for a few held-out episodes.
* :func:`plot_training_curve`: the training loss (and learning rate) per optimizer step, from a
  run's ``train_log.jsonl``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vlm2vla_policy.language import ActionStep

AXIS_LABELS = ("x forward (cm)", "y left (cm)", "z up (cm)")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def cumulative_cm(chunks: Sequence[list[ActionStep] | None], lengths: Sequence[int]) -> np.ndarray:
    """Cumulative displacement (cm), shape (steps + 1, 3), over consecutive chunks.

    A missing (unparsable) chunk counts as no motion for ``lengths[i]`` steps, so predicted and
    true curves stay aligned chunk by chunk.
    """
    rows = [np.zeros(3)]
    for chunk, length in zip(chunks, lengths, strict=True):
        steps = chunk if chunk is not None else [ActionStep(0.0, 0.0, 0.0, 1.0)] * length
        rows.extend(np.array([s.dx_m, s.dy_m, s.dz_m]) * 100.0 for s in steps)
    return np.cumsum(np.array(rows), axis=0)


def plot_trajectories(
    episodes: dict[str, tuple[list[list[ActionStep] | None], list[list[ActionStep]]]],
    path: Path,
) -> Path:
    """Plot predicted vs true cumulative displacement of each episode; save a PNG at ``path``.

    ``episodes`` maps an episode id to (predicted chunks, true chunks), in the episode's order.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (episode_id, (predicted, truth)) in enumerate(episodes.items()):
        colour = colours[index % len(colours)]
        true_curve = cumulative_cm(truth, [len(t) for t in truth])
        pred_curve = cumulative_cm(predicted, [len(t) for t in truth])
        short = episode_id.rsplit("--", 1)[-1]  # store ids are long paths; keep the last part
        for axis in range(3):
            axes[axis].plot(true_curve[:, axis], color=colour, label=f"{short} true")
            axes[axis].plot(
                pred_curve[:, axis], color=colour, linestyle="--", label=f"{short} predicted"
            )
    for axis, label in enumerate(AXIS_LABELS):
        axes[axis].set_ylabel(label)
        axes[axis].grid(alpha=0.3)
    axes[-1].set_xlabel("chunk step (cumulative over the episode's chunks)")
    axes[0].set_title("Predicted vs true displacement, robot base frame")
    axes[0].legend(fontsize="small", ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_training_curve(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Plot loss (nats) and learning rate per step from training-log records; save a PNG."""
    plt = _pyplot()
    figure, loss_axis = plt.subplots(figsize=(8, 4))
    steps = [r["step"] for r in records]
    loss_axis.plot(steps, [r["loss"] for r in records], color="tab:blue", label="loss")
    loss_axis.set_xlabel("optimizer step")
    loss_axis.set_ylabel("answer-token loss (nats)", color="tab:blue")
    loss_axis.grid(alpha=0.3)
    lr_axis = loss_axis.twinx()
    lr_axis.plot(steps, [r["lr"] for r in records], color="tab:orange", label="learning rate")
    lr_axis.set_ylabel("learning rate", color="tab:orange")
    loss_axis.set_title("Training curve")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
