"""The camera projection and the demo's vision pretraining (tower and projector only)."""

import numpy as np
import pytest
import torch

from vlm2vla_experiments.vision_pretrain import VisionPretrainConfig, pretrain_vision
from vlm2vla_policy.testing.tiny_gemma3 import DEMO_SPEC, build_tiny_gemma3
from vlm2vla_sim.camera import project_to_image


def test_projection_puts_the_block_where_it_is_drawn(sim, egl_renderer_works):
    config = sim.config.camera
    u, v = project_to_image(config, config.look_at_m)
    # The look-at point projects to the centre up to rounding: its offset from the camera is
    # orthogonal to the image axes only to the last bits of dot products and norms, which depend
    # on the CPU's BLAS/SIMD path (one AMD EPYC gives v = 119.99999999999997, ~3e-14 px off);
    # a wrong projection is off by pixels.
    assert (u, v) == pytest.approx((config.width / 2, config.height / 2), abs=1e-9)
    hits = 0
    for seed in range(10):
        layout = sim.reset(seed, "pick up the block")
        image = sim.render().astype(float) / 255
        u, v = project_to_image(config, sim.object_positions()["block"])
        pixel = image[int(v), int(u)]
        block = np.array(layout.placement("block").rgba[:3])
        table = np.array(layout.table_rgba[:3])
        hits += np.linalg.norm(pixel - block) < np.linalg.norm(pixel - table)
    assert hits >= 8, "the projected block centre should show the block (the arm may hide one)"


def test_vision_pretraining_trains_the_tower_and_leaves_the_language_model(sim, egl_renderer_works):
    model, processor = build_tiny_gemma3(DEMO_SPEC)
    language = {k: v.clone() for k, v in model.model.language_model.state_dict().items()}
    tower = {k: v.clone() for k, v in model.model.vision_tower.state_dict().items()}
    config = VisionPretrainConfig(layouts=20, steps=3, batch_size=4)
    report = pretrain_vision(model, processor, sim, config, progress=False)
    assert report["held_out_layouts"] == 2
    assert 0.0 <= report["patch_found"] <= 1.0 and report["position_error_m"] > 0
    for name, value in model.model.language_model.state_dict().items():
        torch.testing.assert_close(value, language[name])
    changed = [k for k, v in model.model.vision_tower.state_dict().items() if not v.equal(tower[k])]
    assert changed, "the vision tower did not train"
