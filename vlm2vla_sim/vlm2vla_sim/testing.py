"""Pytest fixtures of the simulator, shared by every package that tests against it.

Import them into a ``conftest.py``: one simulator per test module, and a skip with the reason where
MuJoCo cannot open an EGL context.
"""

import pytest


@pytest.fixture(scope="module")
def sim():
    """A simulator built once per test module (about 0.1 s; resets are cheap)."""
    from vlm2vla_sim import WidowXSim

    simulator = WidowXSim()
    yield simulator
    simulator.close()


@pytest.fixture(scope="session")
def egl_renderer_works() -> None:
    """Skip the test, with the reason, when an EGL context cannot be made on this machine."""
    import mujoco

    model = mujoco.MjModel.from_xml_string("<mujoco><worldbody/></mujoco>")
    try:
        renderer = mujoco.Renderer(model, 8, 8)
    except Exception as err:  # the GL stack raises several types when EGL is unusable
        pytest.skip(
            f"MuJoCo cannot open an EGL context ({type(err).__name__}: {err}); install "
            "libegl1 and libgl1 (scripts/setup.sh does)"
        )
    renderer.close()
