"""policy_node's parameter table translates into the runtime's configuration."""

import pytest

from vlm2vla_policy.nodes.policy_config import PARAMS, loop_config, policy_config, steps_topic
from vlm2vla_policy.runtime import StageSampling


def values(**overrides) -> dict:
    return {**{p.name: p.default for p in PARAMS}, **overrides}


@pytest.mark.parametrize(
    ("verifier", "kind", "verify"),
    [("onboard", "onboard", True), ("adapter", "adapter", True), ("remote", "remote", True),
     ("none", "onboard", False)],
)  # fmt: skip
def test_verifier_parameter_picks_the_verifier_and_whether_to_verify(verifier, kind, verify):
    p = values(verifier=verifier)
    assert policy_config(p).verifier.kind == kind
    assert loop_config(p).verify is verify


def test_every_choice_of_verifier_is_accepted_and_others_refused():
    check = next(p.check for p in PARAMS if p.name == "verifier")
    assert all(check(v) is None for v in ("onboard", "adapter", "remote", "none"))
    assert "must be one of" in check("gemini")


def test_sampling_takes_temperatures_from_parameters_and_token_caps_from_the_runtime():
    sampling = policy_config(values(temperature_chunk=0.2, top_p=0.9)).sampling
    caps = StageSampling()
    assert (sampling.chunk.temperature, sampling.chunk.top_p) == (0.2, 0.9)
    for stage in ("subtasks", "plan", "chunk", "verify"):
        assert getattr(sampling, stage).max_new_tokens == getattr(caps, stage).max_new_tokens


@pytest.mark.parametrize(
    ("action", "topic"),
    [("controller_node/execute_chunk", "controller_node/chunk_steps"),
     ("execute_chunk", "chunk_steps"),
     ("/arm1/controller_node/execute_chunk", "/arm1/controller_node/chunk_steps"),
     ("/execute_chunk", "/chunk_steps")],
)  # fmt: skip
def test_the_steps_topic_sits_beside_the_action_relative_or_absolute(action, topic):
    assert steps_topic(action) == topic
