"""Pretrain a small Gemma-3's vision tower to see the tabletop: the demo's stand-in for SigLIP.

The paper adapts a *pretrained* VLM with LoRA; its SigLIP tower already knows where things are in
an image. The demo's base is random and small enough for a CPU, and a random tower cannot find
a 3 cm block of random colour (a linear probe of its features does no better than guessing the
mean). So before the LoRA fit, the demo pretrains the tower (and the multimodal projector) on
simulator frames with ground truth, as SigLIP was pretrained on web images:

* every patch token predicts whether the task's object lies in its patch (cross-entropy over the
  patches: a dense, easy signal), and
* every projected image token, the features the language model reads, regresses the object's
  table position (normalised x, y) with one shared linear head, so the tower learns to spread the
  position into each token where any attention pattern of the language model can read it.

The language model, its embeddings and the adapters are untouched: the LoRA fit that follows
is the paper's. Frames come from seeds far from the recorder's and the evaluation's, so no
evaluation layout is seen. Quality is measured on held-out layouts: the fraction of frames whose
most likely patch is the object's, and the table-position error of the head.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vlm2vla_sim.camera import project_to_image
from vlm2vla_sim.env import WidowXSim
from vlm2vla_sim.tasks import parse_task


@dataclass(frozen=True)
class VisionPretrainConfig:
    """What the vision tower is pretrained on, and how."""

    task: str = "pick up the block"  # whose object the tower learns to find
    layouts: int = 1500  # simulator layouts rendered (one frame each, arm at the start pose)
    first_seed: int = 100_000  # seeds first_seed .. first_seed + layouts - 1
    steps: int = 1500  # optimizer steps
    batch_size: int = 64  # frames per step
    learning_rate: float = 2e-3  # AdamW
    held_out_fraction: float = 0.1  # layouts kept for the report
    seed: int = 0  # heads' initialisation and batch order

    def __post_init__(self) -> None:
        if self.layouts < 10 or self.steps < 1 or self.batch_size < 1:
            raise ValueError("VisionPretrainConfig needs layouts >= 10, steps >= 1, batch >= 1")
        if not 0.0 < self.held_out_fraction < 1.0:
            raise ValueError("VisionPretrainConfig.held_out_fraction must be in (0, 1)")


def render_layouts(
    sim: WidowXSim, config: VisionPretrainConfig, grid: int, progress: bool = True
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Frames, object table positions (m, (N, 2)) and object patch indices, one per layout.

    A patch index is row-major in a ``grid`` x ``grid`` split of the frame.
    """
    task = parse_task(config.task)
    camera = sim.config.camera
    frames, positions, cells = [], [], []
    seeds = range(config.first_seed, config.first_seed + config.layouts)
    for seed in tqdm(seeds, desc="render layouts", unit="frame", disable=not progress):
        sim.reset(seed, task)
        frames.append(sim.render())
        position = sim.object_positions()[task.object]
        u, v = project_to_image(camera, position)
        row = int(np.clip(v / camera.height * grid, 0, grid - 1))
        col = int(np.clip(u / camera.width * grid, 0, grid - 1))
        positions.append(position[:2])
        cells.append(row * grid + col)
    return frames, np.asarray(positions), np.asarray(cells)


class _Heads(torch.nn.Module):
    """The two pretraining heads; thrown away afterwards."""

    def __init__(self, vision_width: int, token_width: int) -> None:
        super().__init__()
        self.patch = torch.nn.Linear(vision_width, 1)
        self.position = torch.nn.Linear(token_width, 2)


def pretrain_vision(
    model: Any, processor: Any, sim: WidowXSim, config: VisionPretrainConfig, progress: bool = True
) -> dict[str, Any]:
    """Train ``model``'s vision tower and projector in place; return the held-out report."""
    torch.manual_seed(config.seed)
    inner = model.model
    vision = inner.config.vision_config
    grid = vision.image_size // vision.patch_size
    frames, positions, cells = render_layouts(sim, config, grid, progress)
    pixels = processor.image_processor(frames, return_tensors="pt")["pixel_values"]
    target = torch.tensor(positions, dtype=torch.float32)
    mean, std = target.mean(0), target.std(0)
    cell = torch.tensor(cells)
    train = round(len(frames) * (1.0 - config.held_out_fraction))
    heads = _Heads(vision.hidden_size, inner.config.text_config.hidden_size)
    trained = [*inner.vision_tower.parameters(), *inner.multi_modal_projector.parameters()]
    optimizer = torch.optim.AdamW([*trained, *heads.parameters()], lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 - s / config.steps)
    model.train()

    def forward(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        patches = inner.vision_tower(pixel_values=batch).last_hidden_state
        tokens = inner.multi_modal_projector(patches)
        return heads.patch(patches).squeeze(-1), heads.position(tokens)  # (B, P), (B, T, 2)

    bar = tqdm(range(config.steps), desc="pretrain vision", unit="step", disable=not progress)
    for _ in bar:
        index = torch.randint(0, train, (config.batch_size,))
        patch_logits, position = forward(pixels[index])
        loss = torch.nn.functional.cross_entropy(patch_logits, cell[index])
        wanted = ((target[index] - mean) / std)[:, None, :].expand_as(position)
        loss = loss + torch.nn.functional.mse_loss(position, wanted)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    with torch.no_grad():
        patch_logits, position = forward(pixels[train:])
    found = (patch_logits.argmax(1) == cell[train:]).float().mean().item()
    error_m = ((position.mean(1) * std + mean) - target[train:]).norm(dim=1).mean().item()
    guess_m = (target[:train].mean(0) - target[train:]).norm(dim=1).mean().item()
    return {
        "config": asdict(config),
        "held_out_layouts": len(frames) - train,
        "patch_found": round(found, 4),
        "position_error_m": round(error_m, 4),
        "mean_guess_error_m": round(guess_m, 4),
    }
