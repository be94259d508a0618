"""The ``make demo`` policy: built stage by stage into a cache, or taken from the shipped assets.

Stages (each a directory of the cache named by a key of everything that decides its output,
its inputs' keys included, so a changed setting rebuilds only the stages it affects: changing
``--fit-steps`` refits the adapter on the same recordings, dataset and base):

1. ``episodes-<key>``: scripted-expert demonstrations (``vlm2vla-sim-record``, MCAP bags);
2. ``data-<key>``: converted, relabelled with the expert's own subtasks (``--labeler recorded``:
   reach, grasp, lift) and built into subtask, plan and chunk samples (``vlm2vla-train``);
3. ``base-<key>``: a small random Gemma-3 (``DEMO_SPEC``) whose vision tower is pretrained on
   simulator frames to find the block (:mod:`vlm2vla_experiments.vision_pretrain`, the stand-in
   for SigLIP's pretraining; the language model stays random);
4. ``run-<key>``: a LoRA adapter on the language model (``vlm2vla-train fit``, LoRA only).

The shipped assets (``assets/demo/``: ``base/``, ``adapter/`` and ``MANIFEST.json`` with the
recipe, command, seeds and library versions that made them) are a copy of stages 3 and 4 made
by ``make demo-assets``; ``make demo`` uses them, ``make demo-train`` builds its own.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RECIPE_VERSION = 3
STAGES = ("subtasks", "plan", "chunk")  # and "verification" when the recipe trains a verifier
EVAL_FRACTION = 0.02  # of the episodes, held out of the adapter's training set
FIT_SETTINGS: dict[str, Any] = {
    "epochs": 1000,  # --max-steps ends the run
    "effective_batch_size": 4,
    "max_seq_len": 1024,
    "lora_r": 32,
    "lora_alpha": 64,
    "lora_dropout": 0.1,
    "checkpoint_every_steps": 250,
    "log_every_steps": 10,
}
"""Settings of the demo's LoRA fit on top of the debug recipe (learning rate: --learning-rate)."""
MANIFEST = "MANIFEST.json"
VERSIONED = ("torch", "transformers", "peft", "mujoco", "numpy")  # recorded in the manifest


@dataclass(frozen=True)
class DemoRecipe:
    """Every setting that decides the demo policy (the demo's command line sets them)."""

    task: str
    episodes: int  # expert demonstrations, seeds 0.. (failed tries skipped)
    vision_layouts: int  # sim frames of the vision pretraining (seeds 100000..)
    vision_steps: int  # its optimizer steps
    fit_steps: int  # optimizer steps of the adapter
    learning_rate: float  # of the adapter
    window_stride_steps: int = 0  # also a plan/chunk window every k steps inside a subtask
    verifier: bool = False  # train verification samples; the live run verifies with the adapter

    def stages(self) -> list[str]:
        """The sample stages the training set holds."""
        return [*STAGES, "verification"] if self.verifier else list(STAGES)

    def stage_settings(self) -> dict[str, dict[str, Any]]:
        """Per stage, what decides its output (the earlier stages' settings included)."""
        from vlm2vla_experiments.vision_pretrain import VisionPretrainConfig
        from vlm2vla_policy.testing.tiny_gemma3 import DEMO_SPEC

        episodes = {"version": RECIPE_VERSION, "task": self.task, "episodes": self.episodes}
        data = {"episodes": episodes, "stages": self.stages(), "eval_fraction": EVAL_FRACTION,
                "window_stride_steps": self.window_stride_steps}  # fmt: skip
        vision = VisionPretrainConfig(layouts=self.vision_layouts, steps=self.vision_steps)
        base = {"version": RECIPE_VERSION, "spec": asdict(DEMO_SPEC), "vision": asdict(vision)}
        run = {"base": base, "data": data, "fit_steps": self.fit_steps,
               "learning_rate": self.learning_rate, "fit": FIT_SETTINGS}  # fmt: skip
        return {"episodes": episodes, "data": data, "base": base, "run": run}

    def stage_dirs(self, cache: Path) -> dict[str, Path]:
        """Each stage's directory in ``cache``: ``<stage>-<10 hex digits of its settings>``."""
        return {name: cache / f"{name}-{_digest(settings)}"
                for name, settings in self.stage_settings().items()}  # fmt: skip


def _digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def _run(cmd: list[str], what: str) -> None:
    """Run a pipeline command with its own output (and progress); raise when it fails."""
    print(f"[demo] {what}: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        raise RuntimeError(f"{what} failed (exit {code}); see the output above, then run again")


def _stamp(directory: Path, settings: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "recipe.json").write_text(json.dumps(settings, indent=2) + "\n")


def _reused(name: str, directory: Path) -> None:
    print(f"[demo] {name}: cached in {directory}", flush=True)


def record_episodes(recipe: DemoRecipe, bags: Path) -> None:
    """Stage 1: the expert's demonstrations (resumes an interrupted recording)."""
    if (bags / ".complete").exists():
        _reused("expert demonstrations", bags)
        return
    _stamp(bags, recipe.stage_settings()["episodes"])
    record = ["vlm2vla-sim-record", "--task", recipe.task, "--episodes", str(recipe.episodes),
              "--format", "mcap", "--out", str(bags)]  # fmt: skip
    _run(record, f"record {recipe.episodes} expert demonstrations")
    (bags / ".complete").write_text(f"{recipe.episodes}\n")


def build_dataset(recipe: DemoRecipe, bags: Path, data: Path) -> None:
    """Stage 2: convert, relabel with the expert's subtasks, build the samples."""
    store, built = data / "store", data / "samples"
    if (built / "build_report.json").exists():
        _reused("training set", data)
        return
    _stamp(data, recipe.stage_settings()["data"])
    if not (store / ".complete").exists():
        shutil.rmtree(store, ignore_errors=True)  # a conversion that did not finish
        _run(["vlm2vla-train", "convert", "--reader", "mcap", "--input", str(bags),
              "--store", str(store)], "convert")  # fmt: skip
        _run(["vlm2vla-train", "relabel", "--store", str(store), "--labeler", "recorded"],
             "relabel (the expert's own subtasks)")  # fmt: skip
        (store / ".complete").write_text("ok\n")
    _run(["vlm2vla-train", "build", "--store", str(store), "--labels", "recorded",
          "--out", str(built), "--eval-fraction", str(EVAL_FRACTION),
          "--window-stride-steps", str(recipe.window_stride_steps), "--stages", *recipe.stages()],
         "build the training set")  # fmt: skip


def prepare_base(recipe: DemoRecipe, base: Path) -> None:
    """Stage 3: a small random Gemma-3 whose vision tower is pretrained on the sim."""
    if (base / "config.json").exists():
        _reused("vision-pretrained base", base)
        return
    from vlm2vla_experiments.vision_pretrain import VisionPretrainConfig, pretrain_vision
    from vlm2vla_policy.testing.tiny_gemma3 import DEMO_SPEC, build_tiny_gemma3, save_model
    from vlm2vla_sim.env import WidowXSim

    print("[demo] pretrain the vision tower of a small random Gemma-3 on sim frames", flush=True)
    model, processor = build_tiny_gemma3(DEMO_SPEC)
    sim = WidowXSim()
    try:
        vision = VisionPretrainConfig(layouts=recipe.vision_layouts, steps=recipe.vision_steps)
        report = pretrain_vision(model, processor, sim, vision)
    finally:
        sim.close()
    print(
        f"[demo] held-out layouts: block patch found in {report['patch_found']:.0%}, table "
        f"position error {report['position_error_m'] * 100:.1f} cm (guessing the mean: "
        f"{report['mean_guess_error_m'] * 100:.1f} cm)",
        flush=True,
    )
    _stamp(base, recipe.stage_settings()["base"])
    save_model(model, processor, base)
    (base / "vision_pretrain.json").write_text(json.dumps(report, indent=2) + "\n")


def fit_adapter(recipe: DemoRecipe, base: Path, data: Path, run: Path) -> Path:
    """Stage 4: the LoRA adapter; returns its directory."""
    adapter = run / "adapter"
    if (adapter / "vlm2vla_adapter.json").exists():
        _reused("LoRA adapter", run)
        return adapter
    if run.exists() and not (run / "checkpoints").exists():
        shutil.rmtree(run)  # a run that never reached its first checkpoint
    _stamp(run, recipe.stage_settings()["run"])
    settings = {**FIT_SETTINGS, "learning_rate": recipe.learning_rate}
    fit = ["vlm2vla-train", "fit", "--config", "debug", "--model", str(base),
           "--data", str(data / "samples"), "--out", str(run),
           "--max-steps", str(recipe.fit_steps)]  # fmt: skip
    for key, value in settings.items():
        fit += ["--set", f"{key}={value}"]
    _run(fit, f"fit the demo adapter ({recipe.fit_steps} steps)")
    return adapter


def build_policy(recipe: DemoRecipe, cache: Path) -> tuple[Path, Path]:
    """Build (or reuse) every stage in ``cache``; return (base dir, adapter dir)."""
    dirs = recipe.stage_dirs(cache.resolve())
    episodes, data, base, run = (dirs[name] for name in ("episodes", "data", "base", "run"))
    _announce(1, episodes)
    record_episodes(recipe, episodes)
    _announce(2, data)
    build_dataset(recipe, episodes, data)
    _announce(3, base)
    prepare_base(recipe, base)
    _announce(4, run)
    return base, fit_adapter(recipe, base, data, run)


def _announce(number: int, directory: Path) -> None:
    print(f"[demo] stage {number}/4: {directory.name}", flush=True)


def export_assets(recipe: DemoRecipe, base: Path, adapter: Path, out: Path, command: str) -> Path:
    """Copy the base and adapter to ``out`` with a manifest of how they were made."""
    from importlib.metadata import version

    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(base, out / "base")
    shutil.copytree(adapter, out / "adapter", ignore=shutil.ignore_patterns("README.md"))
    _name_base(out / "adapter", "../base")
    stages = recipe.stage_settings()
    vision = stages["base"]["vision"]
    manifest = {
        "made": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "recipe": asdict(recipe),
        "stages": stages,
        "seeds": {
            "episodes": f"scene seeds from 0, the first {recipe.episodes} the expert succeeds on",
            "vision_frames": f"scene seeds {vision['first_seed']}..",
            "model_init": stages["base"]["spec"]["seed"],
            "vision_heads_and_batches": vision["seed"],
            "fit": "the debug recipe's seed (vlm2vla-train fit --config debug)",
        },
        "versions": {"python": platform.python_version()}
        | {name: version(name) for name in VERSIONED},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"[demo] assets written to {out} ({_size_mb(out):.1f} MB)", flush=True)
    return out


def _name_base(adapter: Path, base: str) -> None:
    """Name the adapter's base by its place beside it, not by this machine's cache path."""
    for name, key in (("adapter_config.json", "base_model_name_or_path"),
                      ("vlm2vla_adapter.json", "base_model")):  # fmt: skip
        path = adapter / name
        record = json.loads(path.read_text())
        record[key] = base
        path.write_text(json.dumps(record, indent=2) + "\n")


def shipped_assets(directory: Path) -> tuple[Path, Path] | None:
    """(base, adapter) of the shipped assets in ``directory``; None when it holds none."""
    if not (directory / MANIFEST).is_file():
        return None
    return directory / "base", directory / "adapter"


def shipped_recipe(directory: Path) -> dict[str, Any]:
    """The recipe that made the shipped assets (their manifest's ``recipe``)."""
    return json.loads((directory / MANIFEST).read_text())["recipe"]


def _size_mb(directory: Path) -> float:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) / 1e6
