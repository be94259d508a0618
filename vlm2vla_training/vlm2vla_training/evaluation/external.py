"""The hook to full VQA benchmarks: VLMEvalKit (what the paper's numbers match) or lmms-eval.

Neither toolkit knows vlm2vla adapters, but both load a plain Gemma-3 checkpoint directory. So:

1. :func:`export_merged_model` merges the LoRA adapter into the base weights and saves an
   ordinary Hugging Face checkpoint (weights + processor);
2. :func:`external_benchmark_command` writes what the toolkit needs and returns its command line
   (run it where the toolkit is installed, with a GPU; benchmarks download their data):

   * VLMEvalKit: a ``--config`` JSON naming the model class ``Gemma3`` with ``model_path`` and
     each benchmark's dataset class, run as ``python run.py --config ... --work-dir ...`` from a
     VLMEvalKit checkout;
   * lmms-eval: ``python -m lmms_eval --model gemma3 --model_args pretrained=... --tasks ...``.

:func:`retention_runs` gives both for the base model and for the merged one, the pair whose
scores :mod:`~vlm2vla_training.evaluation.retention_table` divides per benchmark, as the paper
reports it (e.g. MMMU 42.7 vs 46.0). The benchmarks are :mod:`vlm2vla_training.vqa_benchmarks`'.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vlm2vla_training.vqa_benchmarks import PAPER_BENCHMARKS, TOOLS, find_benchmark

BASE, ADAPTER = "base", "adapter"  # the two runs of a retention comparison


@dataclass(frozen=True)
class BenchmarkRun:
    """One toolkit's evaluation of one checkpoint: which run it is and the command to start it."""

    label: str  # BASE (the model without the adapter) or ADAPTER (the merged checkpoint)
    tool: str  # one of TOOLS
    command: list[str]  # run from a VLMEvalKit checkout (vlmevalkit) or anywhere (lmms-eval)


def export_merged_model(model_dir: str, adapter_dir: str, out_dir: str | Path) -> Path:
    """Merge the LoRA adapter in ``adapter_dir`` into ``model_dir``'s weights; save to ``out_dir``.

    The result is a plain checkpoint (no peft needed) with the base model's processor.
    """
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    base = AutoModelForImageTextToText.from_pretrained(model_dir, local_files_only=True)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    out = Path(out_dir)
    merged.save_pretrained(out)
    AutoProcessor.from_pretrained(model_dir, local_files_only=True).save_pretrained(out)
    return out


def external_benchmark_command(
    tool: str,
    model_dir: str | Path,
    work_dir: str | Path,
    benchmarks: Sequence[str] = PAPER_BENCHMARKS,
    name: str = "vlm2vla",
) -> list[str]:
    """The command line that evaluates the checkpoint ``model_dir`` with ``tool`` on benchmarks.

    ``tool`` is "vlmevalkit" (writes ``<work_dir>/<name>_config.json``; run the command from a
    VLMEvalKit checkout) or "lmms-eval". ``benchmarks`` are named as in VLMEvalKit, lmms-eval or
    the paper (see :func:`~vlm2vla_training.vqa_benchmarks.find_benchmark`; an unknown one is a
    ValueError); ``name`` labels the results: both toolkits write them to ``<work_dir>/<name>``.
    """
    if tool not in TOOLS:
        raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
    found = [find_benchmark(b) for b in benchmarks]
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    if tool == "lmms-eval":
        return [
            "python",
            "-m",
            "lmms_eval",
            "--model",
            "gemma3",
            "--model_args",
            f"pretrained={model_dir}",
            "--tasks",
            ",".join(b.lmms_eval for b in found),
            "--batch_size",
            "1",
            "--output_path",
            str(work / name),
        ]
    config = {
        "model": {name: {"class": "Gemma3", "model_path": str(model_dir)}},
        "data": {
            b.vlmevalkit: {"class": b.vlmevalkit_class, "dataset": b.vlmevalkit} for b in found
        },
    }
    config_path = work / f"{name}_config.json"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return ["python", "run.py", "--config", str(config_path), "--work-dir", str(work)]


def retention_runs(
    model: str,
    merged_dir: str | Path,
    out_dir: str | Path,
    tools: Sequence[str] = TOOLS,
    benchmarks: Sequence[str] = PAPER_BENCHMARKS,
) -> list[BenchmarkRun]:
    """Every tool's run of the base ``model`` and of the merged checkpoint ``merged_dir``.

    The base runs name only ``model`` (the adapter is absent from them), the adapter runs only
    ``merged_dir``. Results go to ``<out_dir>/<tool>/<label>``; paths are absolute, as
    VLMEvalKit's command runs from its own checkout. ``model`` stays as given unless it is a
    local directory (a Hugging Face id is not a path).
    """
    out = Path(out_dir).resolve()
    checkpoints = {BASE: checkpoint_location(model), ADAPTER: str(Path(merged_dir).resolve())}
    return [
        BenchmarkRun(
            label,
            tool,
            external_benchmark_command(tool, checkpoint, out / tool, benchmarks, label),
        )
        for tool in tools
        for label, checkpoint in checkpoints.items()
    ]


def checkpoint_location(model: str) -> str:
    """``model`` as an absolute path when it is a local directory, else as given (a hub id)."""
    path = Path(model)
    return str(path.resolve()) if path.is_dir() else model
