"""The launch files against the graph description: executables, parameter files, arguments."""

import importlib
import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

from vlm2vla_bringup.graph import GRAPHS, IncludeSpec, NodeSpec, ProcessSpec, resolve_args
from vlm2vla_bringup.runner import build, main, share_dir
from vlm2vla_policy.processes import ros_executable

LAUNCH_DIR = Path(__file__).parents[1] / "launch"
EXAMPLE_ARGS = {"replay": {"bag": "/tmp/some_bag"}}


def graph_actions(graph: str, given: dict[str, str] | None = None) -> list:
    arguments, make = GRAPHS[graph]
    config = str(share_dir("vlm2vla_bringup") / "config")
    return make(resolve_args(arguments, {**EXAMPLE_ARGS.get(graph, {}), **(given or {})}), config)


def param_table(executable: str) -> tuple:
    """The PARAMS table of the node's entry-point module."""
    (point,) = entry_points(group="console_scripts", name=executable)
    return importlib.import_module(point.value.split(":")[0]).PARAMS


def node_params(executable: str) -> set[str]:
    """Names the node declares."""
    return {p.name for p in param_table(executable)}


def sections(path: str) -> dict[str, dict]:
    """A parameter file's ros__parameters by node name (``/**/name`` and ``name`` alike)."""
    data = yaml.safe_load(Path(path).read_text())
    return {
        key.removeprefix("/**/"): value.get("ros__parameters") or {} for key, value in data.items()
    }


def nodes_of(graph: str, given: dict[str, str] | None = None) -> list[NodeSpec]:
    return [a for a in graph_actions(graph, given) if isinstance(a, NodeSpec)]


def names_params(executable: str) -> dict[str, object]:
    """The node's parameters that name a topic, an action or a namespace: name -> default."""
    naming = ("_topic", "_action", "robot_name")
    return {p.name: p.default for p in param_table(executable) if p.name.endswith(naming)}


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_every_launch_file_is_a_thin_view_of_its_graph(graph):
    source = (LAUNCH_DIR / f"{graph}.launch.py").read_text()
    assert f'generate("{graph}")' in source
    assert "Node(" not in source, "launch files must not describe nodes themselves"


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_every_executable_exists(graph):
    for action in graph_actions(graph):
        if isinstance(action, NodeSpec):
            ros_executable(action.package, action.executable)
        elif isinstance(action, ProcessSpec):
            assert (Path(ros_executable("vlm2vla_bringup", action.cmd[0]))).exists()
        else:
            assert isinstance(action, IncludeSpec)


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_every_parameter_file_key_and_override_is_declared_by_its_node(graph):
    for node in nodes_of(graph):
        declared = node_params(node.executable)
        for path in node.params_files:
            section = sections(path).get(node.name, {})
            unknown = set(section) - declared
            assert not unknown, f"{path}: {node.name} does not declare {sorted(unknown)}"
        unknown = set(node.parameters) - declared
        assert not unknown, f"graph {graph} sets undeclared {node.name} parameters {unknown}"


def test_parameter_file_sections_name_real_nodes():
    config = share_dir("vlm2vla_bringup") / "config" / "vlm2vla.yaml"
    names = {n.name for graph in GRAPHS for n in nodes_of(graph)}
    assert set(sections(str(config))) <= names


def test_runner_builds_the_ros_args_command_lines(capsys, tmp_path):
    bag, model = tmp_path / "b", tmp_path / "m"  # checked before start: they must exist
    bag.mkdir()
    model.mkdir()
    commands = dict(build("replay", {"bag": str(bag), "model": str(model)}))
    policy = commands["policy_node"]
    assert policy[1:2] == ["--ros-args"]
    assert "__node:=policy_node" in policy
    assert f"model:={model}" in policy
    assert "image:=camera/image_raw" in policy, "relative: /camera/image_raw in the root"
    assert "dry_run:=true" in commands["controller_node"]
    assert commands["bag_play"][:3] == ["vlm2vla-bag", "play", str(bag)]
    assert main(["robot", "dry_run:=maybe"]) == 2
    assert "not one of" in capsys.readouterr().err
    assert main(["robot", "no_such_arg:=1"]) == 2


def test_the_robot_watches_a_realsense_and_the_sim_its_own_camera():
    robot = dict(build("robot", {}))["policy_node"]
    assert "image:=camera/camera/color/image_raw" in robot, "realsense2_camera's colour stream"
    usb = dict(build("robot", {"camera_topic": "/camera/image_raw"}))["policy_node"]
    assert "image:=/camera/image_raw" in usb
    sim = dict(build("sim", {}))
    assert "image:=camera/image_raw" in sim["policy_node"]
    assert "camera_topic:=camera/image_raw" in sim["widowx_sim"]


@pytest.mark.skipif(
    importlib.util.find_spec("launch_ros") is None, reason="launch_ros is not installed here"
)
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_launch_files_load_where_launch_is_installed(graph):
    spec = importlib.util.spec_from_file_location(graph, LAUNCH_DIR / f"{graph}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {a.name for a in description.get_launch_arguments()}
    assert declared == {a.name for a in GRAPHS[graph][0]}


NAMESPACED = ("robot", "sim")


@pytest.mark.parametrize("graph", NAMESPACED)
def test_a_namespaced_graph_starts_every_node_in_its_namespace(graph):
    for name, cmd in build(graph, {"namespace": "arm1"}):
        assert "__ns:=/arm1" in cmd, f"{name} is not in /arm1: {cmd}"
    for name, cmd in build(graph, {}):
        assert not any(arg.startswith("__ns:=") for arg in cmd), f"{name} left the root"
    for spelling in ("/arm1", "arm1/", "/arm1/"):
        assert {n.namespace for n in nodes_of(graph, {"namespace": spelling})} == {"/arm1"}
    assert main([graph, "namespace:=1arm", "--print"]) == 2, "1arm is no ROS name"


def test_the_robots_driver_is_included_under_the_namespace():
    (driver,) = [
        a for a in graph_actions("robot", {"namespace": "arm1"}) if isinstance(a, IncludeSpec)
    ]
    assert driver.arguments["robot_name"] == "arm1/wx250s", "xs_sdk's namespace is its robot_name"
    (root,) = [a for a in graph_actions("robot") if isinstance(a, IncludeSpec)]
    assert root.arguments["robot_name"] == "wx250s"


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_no_node_parameter_or_remapping_holds_an_absolute_name(graph):
    """Absolute names would escape the namespace: two namespaced robots would share topics."""
    for node in nodes_of(graph, {"namespace": "arm1"} if graph in NAMESPACED else {}):
        values = names_params(node.executable)
        for given in [
            *(sections(path).get(node.name, {}) for path in node.params_files),
            node.parameters,
        ]:
            values |= {k: v for k, v in given.items() if k in values}
        absolute = {k: v for k, v in values.items() if str(v).startswith("/")}
        absolute |= {k: v for k, v in node.remappings.items() if v.startswith("/")}
        assert not absolute, f"graph {graph}: {node.name} has absolute names {absolute}"
