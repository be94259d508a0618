"""Node parameters checked before anything starts: files and overrides, read as ROS reads them."""

import pytest

from vlm2vla_bringup.graph import GRAPHS, resolve_args
from vlm2vla_bringup.preflight import (
    PreflightError,
    check_graph,
    read_params_file,
    section_matches,
    type_problem,
)
from vlm2vla_bringup.runner import share_dir


def _actions(graph: str, given: dict[str, str]):
    arguments, make = GRAPHS[graph]
    return make(resolve_args(arguments, given), str(share_dir("vlm2vla_bringup") / "config"))


@pytest.mark.parametrize(
    ("key", "namespace", "name", "matches"),
    [
        ("policy_node", "", "policy_node", True),
        ("/policy_node", "", "policy_node", True),
        ("policy_node", "/arm1", "policy_node", False),
        ("/**/policy_node", "", "policy_node", True),
        ("/**/policy_node", "/arm1/left", "policy_node", True),
        ("/arm1/policy_node", "/arm1", "policy_node", True),
        ("/*/policy_node", "/arm1", "policy_node", True),
        ("/*/policy_node", "", "policy_node", False),
        ("/**", "/arm1", "controller_node", True),
        ("/**/policy_node", "", "controller_node", False),
    ],
)
def test_sections_match_nodes_as_rcl_matches_them(key, namespace, name, matches):
    assert section_matches(key, namespace, name) is matches


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_the_packaged_parameter_file_and_defaults_pass(graph, tmp_path):
    bag = tmp_path / "bag.mcap"
    bag.touch()
    check_graph(_actions(graph, {"bag": str(bag)} if graph == "replay" else {}))


def test_every_problem_of_a_parameter_file_is_one_line_naming_the_entry(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        "/**/policy_node:\n  ros__parameters:\n    temprature_plan: 0.3\n    seed: -5\n"
        "/**/widowx_sim:\n  ros__parameters:\n    joint_state_hz: 10\n    image_width: 64\n"
        "controller_node:\n  ros__parameters:\n    qos_overrides:\n      /x:\n        depth: 1\n"
    )
    with pytest.raises(PreflightError) as caught:
        check_graph(_actions("sim", {"params_file": str(params)}))
    problems = caught.value.problems
    where = f"params_file:={params}"
    assert problems == [
        f"{where} (section /**/widowx_sim: joint_state_hz): widowx_sim's joint_state_hz must be "
        "a float (write 10.0: ROS does not turn an integer into a float), got 10",
        f"{where} (section /**/policy_node: temprature_plan): policy_node has no parameter "
        "'temprature_plan'",
        f"{where} (section /**/policy_node: seed): policy_node's seed must be >= -1, got -5",
    ]


def test_overrides_are_checked_with_the_launch_argument_named():
    with pytest.raises(PreflightError) as caught:
        check_graph(_actions("sim", {"seed": "abc", "verifier": "nobody", "model": "/no/such"}))
    text = str(caught.value)
    assert "seed:=abc: widowx_sim's seed must be an integer, got 'abc'" in text
    assert "verifier:=nobody: policy_node's verifier must be one of" in text
    assert "model:=/no/such: no directory /no/such" in text


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "does not exist"),
        ("a: [\n", "cannot be read as YAML"),
        ("- 1\n", "must map node names"),
        ("policy_node:\n  seed: 1\n", "section 'policy_node' has no ros__parameters"),
    ],
)
def test_a_file_ros_cannot_read_is_refused(tmp_path, content, why):
    path = tmp_path / "p.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=why):
        read_params_file(str(path))


def test_types_follow_ros_rules():
    assert type_problem(1.0, 5.0) is None
    assert "write 1.0" in type_problem(1, 5.0)
    assert type_problem(True, 1) == "must be an integer"
    assert type_problem("x", True) == "must be true or false"
    assert type_problem([], [1.0]) is None
    assert type_problem([1.0, 2], [0.0]) == "must be a list of a float"
