"""Runtime configuration: defaults from the paper, validation, dict round trip."""

from __future__ import annotations

import pytest

from vlm2vla_policy.runtime import (
    ModelConfig,
    PolicyConfig,
    RemoteConfig,
    RuntimeConfigError,
    SamplingConfig,
    config_from_dict,
)


def test_paper_sampling_defaults():
    sampling = PolicyConfig().sampling
    assert sampling.plan.temperature == 0.1
    assert sampling.chunk.temperature == 0.5
    assert sampling.subtasks.temperature == 0.5
    assert {s.top_p for s in (sampling.plan, sampling.chunk, sampling.subtasks)} == {0.95}


@pytest.mark.parametrize(
    "kwargs",
    [{"temperature": -0.1}, {"top_p": 0.0}, {"top_p": 1.5}, {"max_new_tokens": 0}],
)
def test_bad_sampling_is_refused(kwargs):
    with pytest.raises(RuntimeConfigError):
        SamplingConfig(**kwargs)


def test_bad_choices_name_the_allowed_values():
    with pytest.raises(RuntimeConfigError, match="dtype must be one of"):
        ModelConfig(dtype="float8")
    with pytest.raises(RuntimeConfigError, match="quantization must be one of"):
        ModelConfig(quantization="3bit")
    with pytest.raises(RuntimeConfigError, match="http"):
        RemoteConfig(base_url="file:///etc/passwd")
    with pytest.raises(RuntimeConfigError, match="backend must be one of"):
        PolicyConfig(backend="grpc")


def test_merged_adapter_cannot_verify_onboard():
    model = ModelConfig(model="/m", adapter="/a", merge_adapter=True)
    with pytest.raises(RuntimeConfigError, match="merge_adapter"):
        PolicyConfig(model=model)


def test_dict_round_trip_and_yaml_style_numbers():
    config = PolicyConfig(backend="remote", remote=RemoteConfig(base_url="http://h:1/v1"))
    assert config_from_dict(PolicyConfig, config.to_dict()) == config
    loaded = config_from_dict(PolicyConfig, {"sampling": {"plan": {"temperature": 0, "top_p": 1}}})
    assert loaded.sampling.plan == SamplingConfig(temperature=0.0, top_p=1.0)


def test_unknown_keys_and_wrong_types_are_reported():
    with pytest.raises(RuntimeConfigError, match="unknown PolicyConfig keys"):
        config_from_dict(PolicyConfig, {"max_retry": 3})
    with pytest.raises(RuntimeConfigError, match="max_retries must be int"):
        config_from_dict(PolicyConfig, {"max_retries": "3"})
    with pytest.raises(RuntimeConfigError, match="max_retries must be int"):
        config_from_dict(PolicyConfig, {"max_retries": True})
