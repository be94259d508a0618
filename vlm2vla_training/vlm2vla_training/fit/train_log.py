"""The training log: one JSON line per logged optimizer step, mirrored to tensorboard.

``<run>/train_log.jsonl`` records per step: ``step``, ``epoch``, ``loss`` (mean answer-token
cross-entropy, nats), ``lr``, ``grad_norm`` (before clipping), ``tokens``, ``tokens_per_s``,
``s_per_step`` and ``samples`` (the training-split row indices of the step, in micro-batch order).
``<run>/tensorboard/`` holds the scalars. On resume both are cut back to the checkpoint's step,
so a resumed run's log reads like an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TRAIN_LOG = "train_log.jsonl"
"""File name of the JSONL log in the run directory."""

TENSORBOARD_DIR = "tensorboard"
"""Tensorboard log directory in the run directory."""

SCALARS = ("loss", "lr", "grad_norm", "tokens_per_s", "s_per_step")
"""Record fields written to tensorboard (as ``train/<name>``)."""


def read_train_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every record of a run's JSONL log (empty when there is none)."""
    path = Path(run_dir) / TRAIN_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class TrainLog:
    """Writes the log of one (possibly resumed) run; use on the main process only."""

    def __init__(self, run_dir: Path, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / TRAIN_LOG
        kept = [r for r in read_train_log(run_dir) if r["step"] <= start_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        # purge_step drops events past the checkpoint that an interrupted run had written.
        self.writer = SummaryWriter(str(run_dir / TENSORBOARD_DIR), purge_step=start_step + 1)

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` (needs ``step``) to the JSONL file and its scalars to tensorboard."""
        with self.path.open("a") as stream:
            stream.write(json.dumps(record) + "\n")
        for name in SCALARS:
            if record.get(name) is not None:
                self.writer.add_scalar(f"train/{name}", record[name], record["step"])

    def close(self) -> None:
        """Flush and close tensorboard's writer."""
        self.writer.close()
