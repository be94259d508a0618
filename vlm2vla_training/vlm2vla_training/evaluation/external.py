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

Run it for the base model too (``model_dir`` = the base checkpoint) and divide the scores for the
retention per benchmark, as the paper reports it (e.g. MMMU 42.7 vs 46.0).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

PAPER_BENCHMARKS: tuple[str, ...] = ("MMMU_DEV_VAL", "MMStar", "DocVQA_VAL")
"""VLMEvalKit names of the benchmarks the paper quotes (its full set is VLMEvalKit's)."""

VLMEVALKIT_DATASET_CLASSES: dict[str, str] = {
    "MMMU_DEV_VAL": "MMMUDataset",
    "MMStar": "ImageMCQDataset",
    "DocVQA_VAL": "ImageVQADataset",
    "AI2D_TEST": "ImageMCQDataset",
    "MMBench_DEV_EN": "ImageMCQDataset",
    "RealWorldQA": "ImageMCQDataset",
    "MME": "ImageYORNDataset",
    "HallusionBench": "ImageYORNDataset",
    "OCRBench": "OCRBench",
}
"""VLMEvalKit dataset class of each benchmark (vlmeval/dataset); extend it for others."""

LMMS_EVAL_TASKS: dict[str, str] = {
    "MMMU_DEV_VAL": "mmmu_val",
    "MMStar": "mmstar",
    "DocVQA_VAL": "docvqa_val",
    "AI2D_TEST": "ai2d",
    "MME": "mme",
    "OCRBench": "ocrbench",
}
"""lmms-eval task name of each benchmark."""

TOOLS = ("vlmevalkit", "lmms-eval")


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

    ``tool`` is "vlmevalkit" (writes ``<work_dir>/vlmevalkit_config.json``; run the command from
    a VLMEvalKit checkout) or "lmms-eval". ``benchmarks`` are VLMEvalKit names (see
    :data:`VLMEVALKIT_DATASET_CLASSES` and :data:`LMMS_EVAL_TASKS`); ``name`` labels the results.
    """
    if tool not in TOOLS:
        raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
    table = VLMEVALKIT_DATASET_CLASSES if tool == "vlmevalkit" else LMMS_EVAL_TASKS
    unknown = [b for b in benchmarks if b not in table]
    if unknown:
        raise ValueError(
            f"no {tool} entry for {unknown}; known: {sorted(table)} (add them to the table in "
            "vlm2vla_training.evaluation.external)"
        )
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
            ",".join(LMMS_EVAL_TASKS[b] for b in benchmarks),
            "--batch_size",
            "1",
            "--output_path",
            str(work / name),
        ]
    config = {
        "model": {name: {"class": "Gemma3", "model_path": str(model_dir)}},
        "data": {b: {"class": VLMEVALKIT_DATASET_CLASSES[b], "dataset": b} for b in benchmarks},
    }
    config_path = work / "vlmevalkit_config.json"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return ["python", "run.py", "--config", str(config_path), "--work-dir", str(work)]
