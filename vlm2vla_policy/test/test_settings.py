"""Settings stated once: validation from field metadata, and the node tables derived from it."""

import argparse
import dataclasses
import math
import re

import pytest

from vlm2vla_policy.cli_options import OptionError, Options
from vlm2vla_policy.language import ConfigError, LanguageConfig
from vlm2vla_policy.nodes import controller_config, policy_config
from vlm2vla_policy.nodes.params import ParameterError, declare_parameters, ros_value
from vlm2vla_policy.robot import ExecutorConfig, GripperConfig, WorkspaceBounds
from vlm2vla_policy.runtime import (
    ModelConfig,
    PolicyConfig,
    RemoteConfig,
    RuntimeConfigError,
    SamplingConfig,
    StageSampling,
    VerifierConfig,
    config_from_dict,
)
from vlm2vla_policy.runtime.episode_loop import LoopConfig
from vlm2vla_policy.serving.chat_server import ServeConfig
from vlm2vla_policy.serving.cli import build_parser
from vlm2vla_policy.settings import (
    METADATA_KEY,
    from_dict,
    locate,
    replace_paths,
    setting,
    validate,
)

CONFIGS = (
    SamplingConfig, StageSampling, ModelConfig, RemoteConfig, VerifierConfig, PolicyConfig,
    LoopConfig, WorkspaceBounds, ExecutorConfig, GripperConfig, ServeConfig, LanguageConfig,
    controller_config.ControllerConfig, policy_config.PolicyNodeConfig,
)  # fmt: skip
NODE_TABLES = {"policy_node": policy_config.PARAMS, "controller_node": controller_config.PARAMS}


def param(table: str, name: str):
    return next(p for p in NODE_TABLES[table] if p.name == name)


def defaults(params) -> dict:
    return {p.name: p.default for p in params}


class FakeNode:
    """What declare_parameters uses of an rclpy node: overrides are declared values."""

    def __init__(self, overrides: dict) -> None:
        self._parameter_overrides = overrides

    def get_name(self) -> str:
        return "fake"

    def declare_parameter(self, name, default, _descriptor):
        return argparse.Namespace(value=self._parameter_overrides.get(name, default))


# --- every field is declared, once ------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_of_the_configs_is_a_setting(config):
    undeclared = [f.name for f in dataclasses.fields(config) if METADATA_KEY not in f.metadata]
    assert not undeclared, f"{config.__name__}: declare {undeclared} with setting()/section()"
    validate(config())


@pytest.mark.parametrize("table", sorted(NODE_TABLES))
def test_every_node_parameter_default_is_its_dataclass_default(table):
    for p in NODE_TABLES[table]:
        assert p.config is not None and p.field, f"{table}.{p.name} is not derived"
        found = locate(p.config(), p.field)
        assert p.default == ros_value(found.value, found.hint), f"{table}.{p.name}"
        assert p.check(p.default) is None, f"{table}.{p.name}"


def test_the_node_defaults_give_the_library_defaults():
    values = defaults(policy_config.PARAMS)
    assert policy_config.policy_config(values) == PolicyConfig()
    assert policy_config.loop_config(values) == LoopConfig()
    expected = dataclasses.replace(
        ExecutorConfig(),
        gripper=GripperConfig(position_open=1.268, position_closed=-0.378),
    )
    assert controller_config.executor_config(defaults(controller_config.PARAMS)) == expected


def test_changing_the_workspace_default_changes_the_controller(monkeypatch):
    narrow = ((0.2, 0.3), (-0.05, 0.05), (0.0, 0.1))
    monkeypatch.setattr(WorkspaceBounds.__init__, "__defaults__", narrow)
    rows = controller_config.derive_params()
    table = {p.name: p for p in rows}
    assert table["workspace_x_m"].default == [0.2, 0.3]
    assert table["workspace_z_m"].default == [0.0, 0.1]
    executor = controller_config.executor_config(defaults(rows))
    assert executor.workspace == WorkspaceBounds(*narrow)
    monkeypatch.undo()
    assert param("controller_node", "workspace_x_m").default == list(WorkspaceBounds().x_m)


def test_the_serve_options_default_to_the_dataclasses():
    from vlm2vla_policy.serving.cli import MODEL_OPTIONS, SERVE_OPTIONS

    args = build_parser().parse_args(["--model", "/m"])
    assert MODEL_OPTIONS.apply(args) == replace_paths(PolicyConfig(), {"model.model": "/m"})
    assert SERVE_OPTIONS.apply(args) == ServeConfig()
    with pytest.raises(SystemExit):
        build_parser().parse_args([])  # --model is required


# --- one check, wherever the value comes from -------------------------------------------------
def test_temperature_above_two_is_refused_the_same_way_everywhere():
    why = "must be within [0.0, 2.0]"
    pattern = re.escape(why)
    with pytest.raises(RuntimeConfigError, match=rf"SamplingConfig.temperature {pattern}, got 2.5"):
        SamplingConfig(temperature=2.5)
    with pytest.raises(RuntimeConfigError, match=rf"temperature {pattern}"):
        config_from_dict(PolicyConfig, {"sampling": {"chunk": {"temperature": 2.5}}})
    assert param("policy_node", "temperature_chunk").check(2.5) == why
    node = FakeNode({"temperature_chunk": 2.5})
    with pytest.raises(ParameterError, match=rf"temperature_chunk=2.5 {pattern}"):
        declare_parameters(node, policy_config.PARAMS)
    options = Options(SamplingConfig, ("temperature",))
    parser = argparse.ArgumentParser()
    options.add_to(parser)
    with pytest.raises(OptionError, match=rf"--temperature {pattern}, got 2.5"):
        options.apply(parser.parse_args(["--temperature", "2.5"]))
    assert options.apply(parser.parse_args([])) == SamplingConfig()


def test_nan_and_infinity_are_refused():
    for value in (math.nan, math.inf):
        with pytest.raises(RuntimeConfigError, match="top_p must be a finite number"):
            SamplingConfig(top_p=value)
        assert param("policy_node", "top_p").check(value) == "must be a finite number"
        with pytest.raises(ValueError, match="x_m items must be a finite number"):
            WorkspaceBounds(x_m=(0.1, value))


def test_wrong_types_are_refused():
    with pytest.raises(RuntimeConfigError, match="max_new_tokens must be int, got '3'"):
        SamplingConfig(max_new_tokens="3")
    with pytest.raises(RuntimeConfigError, match="max_new_tokens must be int"):
        SamplingConfig(max_new_tokens=True)
    with pytest.raises(ValueError, match="x_m must be a tuple of 2 float"):
        WorkspaceBounds(x_m=[0.1, 0.4])
    with pytest.raises(RuntimeConfigError, match="max_retries must be int"):
        config_from_dict(PolicyConfig, {"max_retries": "3"})
    assert param("policy_node", "max_output_retries").check("3") == "must be int"
    assert param("controller_node", "gripper_mode").check("torque").startswith("must be one of")


def test_unknown_keys_are_refused_naming_them():
    with pytest.raises(RuntimeConfigError, match=r"unknown SamplingConfig keys \['temprature'\]"):
        config_from_dict(PolicyConfig, {"sampling": {"plan": {"temprature": 1.0}}})
    with pytest.raises(ConfigError, match=r"unknown ChunkFormat keys \['decimal'\]"):
        LanguageConfig.from_dict({"chunk": {"decimal": 1}})


def test_plain_data_becomes_typed_values():
    loaded = config_from_dict(
        ExecutorConfig, {"workspace": {"x_m": [0, 0.4]}, "gripper": {"mode": "position",
                         "position_open": 1, "position_closed": -1}, "period_s": "1e-1"},
    )  # fmt: skip
    assert loaded.workspace.x_m == (0.0, 0.4) and loaded.period_s == 0.1
    assert loaded.gripper == GripperConfig(
        mode=GripperConfig().mode.__class__("position"), position_open=1.0, position_closed=-1.0
    )
    assert from_dict(RemoteConfig, {}) == RemoteConfig()
    with pytest.raises(ValueError, match="needs a mapping"):
        from_dict(RemoteConfig, ["base_url"])


def test_limits_in_words():
    @dataclasses.dataclass(frozen=True)
    class Limits:
        a: float = setting(0.5, "a", above=0.0, below=1.0)
        b: int = setting(1, "b", low=1)
        c: str = setting("x", "c", choices=("x", "y"))
        d: float = setting(1.0, "d", unit="s", high=2.0)

        def __post_init__(self) -> None:
            validate(self)

    assert [locate(Limits(), name).limits() for name in "abcd"] == [
        "(0.0, 1.0)",
        ">= 1",
        "one of x, y",
        "<= 2.0",
    ]
    assert locate(Limits(), "d").help() == "d, s"
    with pytest.raises(ValueError, match=r"Limits.a must be within \(0.0, 1.0\), got 1.0"):
        Limits(a=1.0)
    with pytest.raises(ValueError, match=r"Limits.c must be one of \['x', 'y'\]"):
        Limits(c="z")
