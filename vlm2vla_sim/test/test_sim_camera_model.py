"""The scene camera's model (what widowx_sim publishes as camera_info) against its own formula."""

import numpy as np

from vlm2vla_sim.camera import CameraConfig, pinhole, project_to_image


def test_camera_model_puts_points_where_the_simulator_projects_them():
    config = CameraConfig(position_m=(-0.3, 0.25, 0.6), look_at_m=(0.25, -0.05, 0.05), fovy_deg=50)
    model = pinhole(config)
    points = np.random.default_rng(0).uniform([0.1, -0.3, 0.0], [0.5, 0.3, 0.3], (50, 3))
    ours, front = model.project(points)
    assert front.all()
    # project_to_image counts from the top-left pixel's corner, the model from its centre.
    theirs = np.array([project_to_image(config, p) for p in points]) - 0.5
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert (model.width, model.height) == (config.width, config.height)
