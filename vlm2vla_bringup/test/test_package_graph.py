"""The workspace's package graph: package.xml names exactly what each package imports or launches.

Imports are read from every installed module (tests and benchmarks are not installed); launches
from the ``package="..."`` of the bringup graph's node specs. The graph must have no cycle, so the
dependency direction stays one way: experiments -> sim, bringup, training -> policy -> msgs.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_TAGS = ("depend", "exec_depend", "build_depend", "build_export_depend")


def workspace_packages() -> dict[str, Path]:
    """Name -> directory of every package.xml of the workspace (build outputs excluded)."""
    found = {}
    for xml in sorted(ROOT.glob("*/package.xml")) + sorted(ROOT.glob("compat/*/package.xml")):
        found[ET.parse(xml).getroot().findtext("name")] = xml.parent
    return found


def declared(directory: Path, names: set[str]) -> set[str]:
    """Workspace packages that ``package.xml`` declares as build or run dependencies."""
    root = ET.parse(directory / "package.xml").getroot()
    return {e.text.strip() for tag in RUNTIME_TAGS for e in root.iter(tag)} & names


def installed_sources(directory: Path) -> list[Path]:
    """The package's Python modules and launch files (not its tests, benchmarks or setup.py)."""
    skip = {"test", "bench", "build", "install"}
    return [
        path
        for path in directory.rglob("*.py")
        if not skip & set(path.relative_to(directory).parts) and path.name != "setup.py"
    ]


def imported(directory: Path, names: set[str]) -> set[str]:
    """Workspace packages imported by the package's installed modules."""
    found = set()
    for path in installed_sources(directory):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found & names


def launched(directory: Path, names: set[str]) -> set[str]:
    """Workspace packages whose nodes the package's graphs or launch files start."""
    found = set()
    for path in installed_sources(directory):
        found |= set(re.findall(r"""package=["'](\w+)["']""", path.read_text(encoding="utf-8")))
    return found & names


def dependency_graph() -> dict[str, set[str]]:
    """Each workspace package -> the workspace packages it imports or launches."""
    packages = workspace_packages()
    names = set(packages)
    return {
        name: (imported(path, names) | launched(path, names)) - {name}
        for name, path in packages.items()
    }


def test_the_workspace_has_the_expected_packages():
    assert {
        "vlm2vla_msgs",
        "vlm2vla_policy",
        "vlm2vla_bringup",
        "vlm2vla_training",
        "vlm2vla_sim",
        "vlm2vla_experiments",
    } <= set(workspace_packages())


def test_package_xml_names_exactly_what_each_package_imports_or_launches():
    packages = workspace_packages()
    names = set(packages)
    graph = dependency_graph()
    wrong = {
        name: {"missing": sorted(graph[name] - have), "unused": sorted(have - graph[name])}
        for name, path in packages.items()
        if graph[name] != (have := declared(path, names))
    }
    assert not wrong, f"package.xml dependencies differ from imports and launches: {wrong}"


def test_the_package_graph_has_no_cycle_and_runs_one_way():
    graph = dependency_graph()
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise AssertionError(f"the package graph has a cycle: {err.args[1]}") from err
    assert order.index("vlm2vla_policy") < order.index("vlm2vla_sim")
    assert not graph["vlm2vla_policy"] - {"vlm2vla_msgs", "interbotix_xs_msgs"}
    assert graph["vlm2vla_sim"] <= {"vlm2vla_policy", "vlm2vla_msgs", "interbotix_xs_msgs"}
    assert "vlm2vla_experiments" not in set().union(*graph.values())
