"""Every default is stated once: in the dataclass field its parameter or option is derived from.

- No node module writes a Param row by hand, and every node's table is derived (the defaults
  equal the dataclass defaults).
- No command-line module gives an option a literal default (derived options take theirs from
  the dataclass; hand-written ones have none).
- The packaged parameter file holds overrides only: no entry equals its parameter's default.
- A launch argument passed on to a node parameter of the same name has that parameter's default.
"""

import ast
from pathlib import Path

import pytest
import yaml

from vlm2vla_bringup.runner import share_dir
from vlm2vla_policy.settings import locate

ROOT = Path(__file__).resolve().parents[2]
NODE_DIRS = ("vlm2vla_policy/vlm2vla_policy/nodes", "vlm2vla_sim/vlm2vla_sim/nodes")
CLI_MODULES = (
    "vlm2vla_policy/vlm2vla_policy/serving/cli.py",
    "vlm2vla_experiments/vlm2vla_experiments/eval_cli.py",
    "vlm2vla_training/vlm2vla_training/commands/eval.py",
    "vlm2vla_training/vlm2vla_training/commands/build.py",
)
NODE_PARAMS = {
    "policy_node": "vlm2vla_policy.nodes.policy_config",
    "controller_node": "vlm2vla_policy.nodes.controller_config",
    "widowx_sim": "vlm2vla_sim.nodes.sim_config",
}


def _calls(path: Path, name: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)
    ]


def _params(node: str) -> dict:
    import importlib

    return {p.name: p for p in importlib.import_module(NODE_PARAMS[node]).PARAMS}


def test_no_node_module_writes_a_parameter_row_by_hand():
    written = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for folder in NODE_DIRS
        for path in sorted((ROOT / folder).glob("*.py"))
        if path.name != "params.py"  # params_from builds the rows there
        for call in _calls(path, "Param")
    ]
    assert not written, f"derive these with params_from() instead: {written}"


@pytest.mark.parametrize("node", sorted(NODE_PARAMS))
def test_every_node_parameter_is_derived_from_a_dataclass_default(node):
    for param in _params(node).values():
        assert param.config is not None, f"{node}.{param.name} is not derived"
        found = locate(param.config(), param.field)
        assert param.check(param.default) is None, f"{node}.{param.name}"
        assert param.valid == found.limits()


@pytest.mark.parametrize("module", CLI_MODULES)
def test_no_command_line_option_restates_a_default(module):
    literal = [
        f"{module}:{call.lineno}"
        for call in _calls(ROOT / module, "add_argument")
        for keyword in call.keywords
        if keyword.arg == "default" and isinstance(keyword.value, ast.Constant)
    ]
    assert not literal, f"derive these options from the dataclass (cli_options.Options): {literal}"


def test_the_parameter_file_holds_overrides_only():
    config = share_dir("vlm2vla_bringup") / "config" / "vlm2vla.yaml"
    data = yaml.safe_load(config.read_text())
    restated = []
    for node, section in data.items():
        declared = _params(node.removeprefix("/**/"))  # a section matching every namespace
        for name, value in (section.get("ros__parameters") or {}).items():
            if value == declared[name].default:
                restated.append(f"{node}.{name}")
    assert not restated, f"{config}: delete the entries equal to the default: {restated}"


@pytest.mark.parametrize("graph", ["robot", "sim", "replay"])
def test_launch_arguments_take_their_node_parameter_defaults(graph):
    from vlm2vla_bringup.graph import GRAPHS, NodeSpec, resolve_args

    arguments, build = GRAPHS[graph]
    args = resolve_args(arguments, {"bag": "/tmp/x.mcap"} if graph == "replay" else {})
    checked = 0
    for spec in build(args, "/share"):
        if not isinstance(spec, NodeSpec) or spec.name not in NODE_PARAMS:
            continue
        declared = _params(spec.name)
        for name, value in spec.parameters.items():
            if name in declared and args.get(name) == value:
                default = declared[name].default
                expected = str(default).lower() if isinstance(default, bool) else str(default)
                checked += 1
                assert value == expected, f"{graph}: {name}:={value} restates {spec.name}'s {name}"
    assert checked >= 1


def test_command_line_errors_name_the_flag(tmp_path, capsys):
    from vlm2vla_experiments.eval_cli import main as sim_eval
    from vlm2vla_training.cli import main as train

    argv = ["build", "--store", str(tmp_path), "--out", str(tmp_path / "o")]
    assert train([*argv, "--eval-fraction", "1.5"]) == 2
    assert "--eval-fraction must be within [0.0, 1.0), got 1.5" in capsys.readouterr().err
    argv = ["--task", "pick up the block", "--random", "--out", str(tmp_path)]
    assert sim_eval([*argv, "--width", "0"]) == 2
    assert "--width must be >= 1, got 0" in capsys.readouterr().err
