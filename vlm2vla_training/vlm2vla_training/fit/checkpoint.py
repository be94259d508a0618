"""Resumable checkpoints of a ``fit`` run, written with ``accelerate`` (plain, DDP or DeepSpeed).

Layout: ``<run>/checkpoints/step_00000500/`` holds accelerate's state (the trainable weights, the
optimizer, the learning-rate scheduler, every process's RNG states, the :class:`TrainProgress`
with the data position) plus ``config.json`` (the run's config) and ``checkpoint.json`` (step,
samples seen, time), written last. A checkpoint is written under a ``.partial-`` name and renamed
when complete, so a run killed while saving leaves no half checkpoint behind.

Only trainable weights are saved (the LoRA adapters, or the language model when fully
fine-tuning): the frozen base weights are reloaded from the base checkpoint, which keeps a 12B
model's LoRA checkpoint at megabytes instead of tens of gigabytes.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKPOINTS = "checkpoints"
"""Subdirectory of the run directory that holds the checkpoints."""

CHECKPOINT_META = "checkpoint.json"
"""Metadata file of a checkpoint; its presence marks the checkpoint complete."""

CONFIG_FILE = "config.json"
"""The run's training config (beside every checkpoint and in the run directory)."""

_NAME = re.compile(r"^step_(\d+)$")


@dataclass
class TrainProgress:
    """How far a run got; saved in every checkpoint (an accelerate custom state)."""

    # Optimizer steps done; the sample order continues from here.
    step: int = 0
    # Tokens processed (prompt + answer, all processes).
    tokens_seen: int = 0
    # Answers cut to max_seq_len so far (all processes).
    truncated_samples: int = 0
    # Training time so far over every resumed part of the run, s.
    elapsed_s: float = 0.0

    def state_dict(self) -> dict[str, Any]:
        """Plain dict for accelerate's checkpointing."""
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output."""
        for field in dataclasses.fields(self):
            setattr(self, field.name, type(getattr(self, field.name))(state[field.name]))


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    """Directory of the checkpoint after optimizer step ``step``."""
    return run_dir / CHECKPOINTS / f"step_{step:08d}"


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [
        (int(match.group(1)), path)
        for path in root.iterdir()
        if (match := _NAME.match(path.name)) and (path / CHECKPOINT_META).is_file()
    ]
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    checkpoints = complete_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def keep_trainable_weights(trainable: set[str]) -> Callable[[list, list, str], None]:
    """An accelerate save-state hook that drops every weight not in ``trainable`` (names).

    The names are those of the unwrapped model (accelerate saves that one). A trainable weight
    missing from the state would make the checkpoint resume from initial weights, so it raises.
    """

    def hook(models: list, weights: list[dict[str, Any]], output_dir: str) -> None:
        for state in weights:
            missing = sorted(trainable - set(state))
            if missing:
                raise RuntimeError(
                    f"trainable weights {missing[:2]} are not in the state accelerate saves; "
                    "the trainable names must be taken from accelerator.unwrap_model(model)"
                )
            for name in [name for name in state if name not in trainable]:
                del state[name]

    return hook


def save_checkpoint(
    accelerator: Any, run_dir: Path, step: int, config: dict[str, Any], record: dict[str, Any]
) -> Path:
    """Save the training state after ``step`` (call on every process); return its directory."""
    final = checkpoint_dir(run_dir, step)
    partial = final.with_name(f".partial-{final.name}")
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    kwargs = {"exclude_frozen_parameters": True} if _uses_deepspeed(accelerator) else {}
    accelerator.save_state(str(partial), **kwargs)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (partial / CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
        meta = {
            "step": step,
            "saved_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **record,
        }
        (partial / CHECKPOINT_META).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    accelerator.wait_for_everyone()
    return final


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` complete checkpoints (main process only)."""
    for path in complete_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def load_checkpoint(accelerator: Any, path: Path) -> dict[str, Any]:
    """Restore the training state saved in ``path``; return its ``checkpoint.json``."""
    if _uses_deepspeed(accelerator):
        # Frozen weights were not saved (exclude_frozen_parameters); they come from the base.
        accelerator.load_state(str(path), load_module_strict=False)
    else:
        # Only trainable weights are in the file (keep_trainable_weights); the rest stay as loaded.
        accelerator.load_state(str(path), strict=False)
    return json.loads((path / CHECKPOINT_META).read_text())


def _uses_deepspeed(accelerator: Any) -> bool:
    return getattr(accelerator.state, "deepspeed_plugin", None) is not None
