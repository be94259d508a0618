"""``fit``: supervised fine-tuning of Gemma-3 on the built dataset, as the paper trained it.

Read :func:`fit` top to bottom: set up processes and precision, open the data, load and freeze
the model, build the deterministic sample order, the optimizer and the schedule, resume from the
newest checkpoint if there is one, then the plain loop (accumulate micro-batches, step, log,
checkpoint) and the final save. It runs as one CPU process for tests and under
``accelerate launch`` (DDP or DeepSpeed ZeRO-2) on many GPUs.

Run directory (``config.out``)::

    config.json         the config, the resolved accumulation/precision, library versions
    train_log.jsonl     one record per logged step (loss, lr, grad norm, tokens/s, sample ids)
    tensorboard/        the same scalars for tensorboard
    checkpoints/        resumable checkpoints (see vlm2vla_training.fit.checkpoint)
    adapter/ | model/   the final LoRA adapter (or, fully fine-tuned, the whole model) with
                        vlm2vla_adapter.json (format version, language config, training record)
                        and at_table.json for the AT encoding
    metrics.json        summary: steps, samples, tokens, losses, time per step, throughput
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)
from tqdm import tqdm

from vlm2vla_policy.language import FORMAT_VERSION, AtTable, LanguageConfig
from vlm2vla_policy.runtime import write_adapter_metadata
from vlm2vla_training.built_dataset import load_built_data
from vlm2vla_training.fit.chat_samples import IGNORE_INDEX, ChatSampleEncoder, RowCollator
from vlm2vla_training.fit.checkpoint import (
    CONFIG_FILE,
    TrainProgress,
    keep_trainable_weights,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from vlm2vla_training.fit.config import TrainConfig, TrainConfigError
from vlm2vla_training.fit.data import (
    SelectedRows,
    at_language,
    at_rewrite,
    stage_rows,
)
from vlm2vla_training.fit.model_setup import (
    load_base_model,
    load_processor,
    make_at_table,
    make_trainable,
    parameter_counts,
    resolve_precision,
    resolve_weights_dtype,
)
from vlm2vla_training.fit.sample_order import SampleOrder
from vlm2vla_training.fit.train_log import TrainLog, read_train_log

ADAPTER_DIR = "adapter"
"""Final LoRA adapter directory in the run directory."""

MODEL_DIR = "model"
"""Final model directory of a full fine-tuning run."""

METRICS_FILE = "metrics.json"
"""Summary metrics of a finished run."""

FINAL_LOSS_WINDOW = 10
"""Logged steps averaged for ``final_loss`` in the metrics."""


@dataclass(frozen=True)
class FitResult:
    """What a call of :func:`fit` left behind."""

    # The run directory.
    run_dir: Path
    # The final adapter (or model) directory; None when the run stopped before the end.
    output_dir: Path | None
    # Optimizer steps done so far, and planned for the whole run.
    steps: int
    total_steps: int
    # The summary (also in metrics.json when the run finished).
    metrics: dict[str, Any]

    @property
    def completed(self) -> bool:
        """True when every step ran and the final output was saved."""
        return self.output_dir is not None


def fit(  # noqa: PLR0915 (one training main that reads top to bottom, nanoGPT style)
    config: TrainConfig, progress: bool = True, stop_after_steps: int | None = None
) -> FitResult:
    """Train as ``config`` says; resume from the run directory's newest checkpoint if any.

    ``stop_after_steps`` is a test hook that simulates a crash: the run stops once that many
    optimizer steps are done, without a final save (checkpoints written until then remain).
    A finished run is not trained again; its result is returned.
    """
    from accelerate import Accelerator, PartialState
    from accelerate.utils import set_seed

    if not config.data or not config.out:
        raise TrainConfigError("TrainConfig: data and out must be set (the build dir, the run dir)")
    run_dir = Path(config.out)
    _check_run_dir(run_dir, config)
    finished = _finished_result(run_dir)
    if finished is not None:
        return finished

    # Processes and numerics. Accumulation makes the effective batch whatever the process count.
    _forget_single_process_state()
    state = PartialState(cpu=config.cpu)
    precision = resolve_precision(config.mixed_precision, state.device)
    accum_steps = config.grad_accum_steps(state.num_processes)
    accelerator = Accelerator(
        gradient_accumulation_steps=accum_steps, mixed_precision=precision, cpu=config.cpu
    )
    main = accelerator.is_main_process
    _check_deepspeed_config(accelerator, config, accum_steps)
    set_seed(config.seed)  # the same LoRA initialisation on every process

    # Data: the training split, restricted to the configured stages.
    data = load_built_data(config.data)
    train_split = data.splits["train"]
    rows = stage_rows(train_split, config.stages)
    if not rows:
        raise ValueError(f"the train split of {config.data} has no samples of {config.stages}")

    # Model: the base checkpoint, frozen except the LoRA adapters (or the language model).
    processor = load_processor(config.model)
    weights_dtype = resolve_weights_dtype(config, precision)
    model = load_base_model(config.model, weights_dtype)
    at_table = make_at_table(config, model, processor.tokenizer)
    language = at_language(data.language) if at_table else data.language
    model = make_trainable(model, config)
    counts = parameter_counts(model)

    # Sample order, optimizer and schedule; every step of the run is known from here on.
    order = SampleOrder(
        num_samples=len(rows),
        seed=config.seed,
        epochs=config.epochs,
        per_device_batch=config.per_device_batch_size,
        accum_steps=accum_steps,
        num_processes=accelerator.num_processes,
        max_steps=config.max_steps,
    )
    if order.total_steps == 0:
        raise ValueError(
            f"{len(rows)} training samples do not fill one step of effective_batch_size "
            f"{config.effective_batch_size}; build more data or lower the batch size"
        )
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_eps,
        weight_decay=config.weight_decay,
    )
    # Not passed to accelerator.prepare: accelerate would step it once per process per step.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config, order.total_steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    train_progress = TrainProgress()
    accelerator.register_for_checkpointing(scheduler, train_progress)
    # Names as accelerate saves them: of the unwrapped model (no DDP "module." prefix).
    unwrapped = accelerator.unwrap_model(model)
    trainable = {
        n for n, p in unwrapped.named_parameters(remove_duplicate=False) if p.requires_grad
    }
    accelerator.register_save_state_pre_hook(keep_trainable_weights(trainable))

    # Resume: weights, optimizer, schedule, RNG states and the step (= the data position).
    resolved = {
        "num_processes": accelerator.num_processes,
        "grad_accum_steps": accum_steps,
        "mixed_precision": precision,
        "weights_dtype": str(weights_dtype).removeprefix("torch."),
        "total_steps": order.total_steps,
        "train_samples": len(rows),
    }
    run_record = _run_record(config, resolved, counts, at_table)
    checkpoint = latest_checkpoint(run_dir)
    if main:
        _write_run_config(run_dir, run_record)
    if checkpoint is not None:
        load_checkpoint(accelerator, checkpoint)
    start_step = train_progress.step

    # This process's micro-batches from the resume point on; its own generator keeps the global
    # RNG (dropout) untouched, so a resumed run draws exactly what an uninterrupted one does.
    rewrite = at_rewrite(data.language, at_table) if at_table else None
    collator = RowCollator(ChatSampleEncoder(processor, config.max_seq_len), rewrite)
    loader = torch.utils.data.DataLoader(
        SelectedRows(train_split, rows),
        batch_sampler=order.rank_batches(accelerator.process_index, start_step),
        collate_fn=collator,
        num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(config.seed),
    )
    pixel_dtype = _vision_dtype(unwrapped)
    log = TrainLog(run_dir, start_step) if main else None
    bar = tqdm(
        total=order.total_steps,
        initial=start_step,
        desc="fit",
        unit="step",
        disable=not (progress and main),
    )

    # The loop: one optimizer step = accum_steps micro-batches on every process.
    max_norm = config.max_grad_norm or math.inf  # inf measures the norm without clipping
    batches = iter(loader)
    model.train()
    for step in range(start_step, order.total_steps):
        if stop_after_steps is not None and step >= stop_after_steps:
            break
        started = time.perf_counter()
        loss_sum = torch.zeros((), device=accelerator.device)
        tokens = truncated = 0
        grad_norm = None
        for _ in range(accum_steps):
            batch = next(batches)
            truncated += int(batch.pop("truncated"))
            tokens += int(batch["attention_mask"].sum())
            batch = _to_device(batch, accelerator.device, pixel_dtype)
            with accelerator.accumulate(model):
                loss = answer_loss(model, batch)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    grad_norm = accelerator.clip_grad_norm_(model.parameters(), max_norm)
                optimizer.step()
                optimizer.zero_grad()
            loss_sum += loss.detach()
        if not accelerator.sync_gradients:
            raise RuntimeError(
                "gradients were not synchronised at the end of an optimizer step; the "
                "accelerate/DeepSpeed gradient accumulation must equal grad_accum_steps"
            )
        lr = scheduler.get_last_lr()[0]  # the rate this step used
        scheduler.step()

        # Bookkeeping: totals over processes (one all-reduce), progress, log, checkpoint.
        totals = accelerator.reduce(
            torch.stack(
                [
                    loss_sum / accum_steps,
                    torch.tensor(float(tokens), device=accelerator.device),
                    torch.tensor(float(truncated), device=accelerator.device),
                ]
            ),
            reduction="sum",
        ).tolist()
        step_s = time.perf_counter() - started
        train_progress.step = step + 1
        train_progress.tokens_seen += int(totals[1])
        train_progress.truncated_samples += int(totals[2])
        train_progress.elapsed_s += step_s
        loss_value = totals[0] / accelerator.num_processes
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")
        if log is not None and (step + 1) % config.log_every_steps == 0:
            log.write(
                {
                    "step": step + 1,
                    "epoch": step // order.steps_per_epoch,
                    "loss": loss_value,
                    "lr": lr,
                    "grad_norm": None if grad_norm is None else float(grad_norm),
                    "tokens": int(totals[1]),
                    "tokens_per_s": totals[1] / step_s,
                    "s_per_step": step_s,
                    "samples": [rows[p] for p in order.step_samples(step)],
                }
            )
        every = config.checkpoint_every_steps
        if every and (step + 1) % every == 0 and step + 1 < order.total_steps:
            record = {"samples_seen": (step + 1) * order.samples_per_step, **resolved}
            save_checkpoint(accelerator, run_dir, step + 1, run_record, record)
            if main:
                prune_checkpoints(run_dir, config.keep_checkpoints)
    bar.close()
    if log is not None:
        log.close()

    summary = _summary(run_dir, train_progress, order, resolved, counts)
    if train_progress.step < order.total_steps:
        return FitResult(run_dir, None, train_progress.step, order.total_steps, summary)

    # Final save: the adapter (or the whole model) with everything inference needs.
    accelerator.wait_for_everyone()
    output_dir = _save_final(
        accelerator,
        model,
        processor=processor,
        config=config,
        language=language,
        at_table=at_table,
        run_record=run_record,
        summary=summary,
    )
    if main:
        (run_dir / METRICS_FILE).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    accelerator.wait_for_everyone()
    return FitResult(run_dir, output_dir, train_progress.step, order.total_steps, summary)


def _forget_single_process_state() -> None:
    """Let every in-process call of fit choose its own device and precision.

    accelerate keeps one process-wide state and refuses a second Accelerator with another
    precision; a notebook, a benchmark or an experiment calling fit several times in one process
    would fail. Outside a distributed launch (WORLD_SIZE unset or 1) nothing else holds that
    state, so it is cleared (accelerate's own tests do the same).
    """
    from accelerate.state import AcceleratorState, GradientState

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def answer_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy (nats) of the answer tokens of ``batch``.

    Logits are computed only at positions whose next token is an answer token
    (``logits_to_keep``): with Gemma-3's 262k-token vocabulary, full-sequence logits would take
    about 1 GB per 1024 tokens in fp32 for nothing, since prompt tokens carry no loss.
    """
    inputs = dict(batch)
    targets = inputs.pop("labels")[:, 1:]
    positions = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(1)
    logits = model(**inputs, logits_to_keep=positions, use_cache=False).logits
    chosen = targets[:, positions]
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), chosen.reshape(-1), ignore_index=IGNORE_INDEX
    )


def _lr_factor(config: TrainConfig, total_steps: int) -> Any:
    """Multiplier of the peak rate at each step: linear warm-up, then linear decay or constant."""
    warmup = config.warmup_steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.lr_schedule == "constant":
            return 1.0
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return factor


def _to_device(
    batch: dict[str, torch.Tensor], device: torch.device, pixel_dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    moved = {name: tensor.to(device) for name, tensor in batch.items()}
    if "pixel_values" in moved:
        # The vision tower's dtype: DeepSpeed bf16 casts the whole model and does not autocast.
        moved["pixel_values"] = moved["pixel_values"].to(pixel_dtype)
    return moved


def _vision_dtype(model: Any) -> torch.dtype:
    for name, parameter in model.named_parameters():
        if "vision_tower" in name:
            return parameter.dtype
    return torch.float32


def _check_deepspeed_config(accelerator: Any, config: TrainConfig, accum_steps: int) -> None:
    """Fill DeepSpeed's "auto" batch and clipping values from the config; refuse conflicts."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    ds = plugin.deepspeed_config
    # The data loader is ours (not prepared), so DeepSpeed cannot read the micro-batch from it.
    if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
        ds["train_micro_batch_size_per_gpu"] = config.per_device_batch_size
    if ds.get("gradient_clipping", "auto") == "auto":
        ds["gradient_clipping"] = config.max_grad_norm
    found = ds.get("gradient_accumulation_steps", "auto")
    if found not in ("auto", accum_steps):
        raise TrainConfigError(
            f"the DeepSpeed config sets gradient_accumulation_steps={found}, but the effective "
            f"batch {config.effective_batch_size} needs {accum_steps} on "
            f'{accelerator.num_processes} processes; set it to "auto" in the DeepSpeed config'
        )
    if "optimizer" in ds or "scheduler" in ds:
        raise TrainConfigError(
            "the DeepSpeed config defines an optimizer or scheduler; remove them: fit builds "
            "AdamW and the linear schedule from the training config"
        )


def _run_record(
    config: TrainConfig, resolved: dict[str, Any], counts: dict[str, int], at_table: AtTable | None
) -> dict[str, Any]:
    """config.json of the run: the config, what it resolved to, and the library versions."""
    import accelerate
    import peft
    import transformers

    return {
        "train_config": config.to_dict(),
        "resolved": resolved,
        "parameters": counts,
        "format_version": FORMAT_VERSION,
        "at_table": at_table.to_dict() if at_table else None,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "accelerate": accelerate.__version__,
        },
    }


def _check_run_dir(run_dir: Path, config: TrainConfig) -> None:
    """Refuse a run directory that was started with other settings, or is not a run's."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        if latest_checkpoint(run_dir) is not None:
            raise TrainConfigError(f"{run_dir} has checkpoints but no {CONFIG_FILE}; delete it")
        return
    saved = json.loads(path.read_text())["train_config"]
    previous = TrainConfig(**{**saved, "stages": tuple(saved["stages"])}).identity()
    changed = sorted(k for k, v in config.identity().items() if previous.get(k) != v)
    if changed:
        raise TrainConfigError(
            f"{run_dir} holds a run with other settings ({', '.join(changed)} differ); pass a "
            "new --out, or delete that directory to start over"
        )


def _write_run_config(run_dir: Path, record: dict[str, Any]) -> None:
    """Write config.json (the settings were checked by _check_run_dir)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def _summary(
    run_dir: Path,
    train_progress: TrainProgress,
    order: SampleOrder,
    resolved: dict[str, Any],
    counts: dict[str, int],
) -> dict[str, Any]:
    """metrics.json: what the run did (losses from the log, so resumed parts count too)."""
    losses = [r["loss"] for r in read_train_log(run_dir)]
    steps = train_progress.step
    elapsed = train_progress.elapsed_s
    return {
        "completed": steps == order.total_steps,
        "steps": steps,
        "total_steps": order.total_steps,
        "samples": steps * order.samples_per_step,
        "effective_batch_size": order.samples_per_step,
        "dropped_per_epoch": order.num_samples - order.steps_per_epoch * order.samples_per_step,
        "tokens_seen": train_progress.tokens_seen,
        "truncated_samples": train_progress.truncated_samples,
        "elapsed_s": round(elapsed, 3),
        "s_per_step": round(elapsed / steps, 4) if steps else None,
        "tokens_per_s": round(train_progress.tokens_seen / elapsed, 1) if elapsed else None,
        "first_loss": losses[0] if losses else None,
        "final_loss": sum(losses[-FINAL_LOSS_WINDOW:]) / len(losses[-FINAL_LOSS_WINDOW:])
        if losses
        else None,
        "trainable_params": counts["trainable"],
        "total_params": counts["total"],
        **resolved,
    }


def _save_final(
    accelerator: Any,
    model: Any,
    *,
    processor: Any,
    config: TrainConfig,
    language: LanguageConfig,
    at_table: AtTable | None,
    run_record: dict[str, Any],
    summary: dict[str, Any],
) -> Path:
    """Save the adapter (LoRA) or the whole model (full) with its vlm2vla metadata."""
    full = config.finetune == "full"
    final = Path(config.out) / (MODEL_DIR if full else ADAPTER_DIR)
    # Every process takes part: under ZeRO-3 this gathers the sharded weights.
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        partial = final.with_name(f".partial-{final.name}")
        shutil.rmtree(partial, ignore_errors=True)
        accelerator.unwrap_model(model).save_pretrained(partial, state_dict=state_dict)
        if full:
            processor.save_pretrained(partial)  # a whole model is loadable on its own
        write_adapter_metadata(
            partial,
            base_model=config.model,
            language=language,
            training={**run_record, "metrics": summary},
            at_table=at_table,
        )
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    return final


def _finished_result(run_dir: Path) -> FitResult | None:
    """The result of a run that already finished in ``run_dir``, or None."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    output = next((run_dir / n for n in (ADAPTER_DIR, MODEL_DIR) if (run_dir / n).is_dir()), None)
    if output is None:
        return None
    return FitResult(run_dir, output, summary["steps"], summary["total_steps"], summary)
