"""A graph's node parameters checked before any process starts (``vlm2vla-launch``).

Each node validates its parameters at start and refuses what it does not know, but by then its
neighbours are running, and each dying node prints its own error. :func:`check_graph` applies the
same rules to every node of a graph first: the parameter files are read as ROS reads them
(sections keyed by node name, ``/**/`` and ``*`` wildcards, nested keys joined with dots), the
``-p`` overrides parsed as YAML, and each value is held against the node's declared table
(:data:`NODE_PARAMS`): an unknown name, a value of another type than the parameter's (ROS does
not turn ``10`` into ``10.0``), a value its check refuses, and a model or adapter directory that
does not exist. Each problem is one line naming the launch argument or file entry to change.
ROS-free.
"""

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from vlm2vla_bringup.graph import Action, NodeSpec
from vlm2vla_policy.nodes.controller_config import PARAMS as CONTROLLER_PARAMS
from vlm2vla_policy.nodes.params import Param
from vlm2vla_policy.nodes.policy_config import PARAMS as POLICY_PARAMS
from vlm2vla_sim.nodes.sim_config import PARAMS as SIM_PARAMS

NODE_PARAMS: dict[tuple[str, str], Sequence[Param]] = {
    ("vlm2vla_policy", "policy_node"): POLICY_PARAMS,
    ("vlm2vla_policy", "controller_node"): CONTROLLER_PARAMS,
    ("vlm2vla_sim", "widowx_sim"): SIM_PARAMS,
}
"""The declared parameters of each node executable the graphs start, by (package, executable)."""

# Parameters every node takes without declaring them (as declare_parameters allows them).
UNDECLARED = re.compile(r"^(qos_overrides\..*|use_sim_time)$")
# Parameters naming a local directory the node reads at start (a hub id is not local).
DIRECTORY_PARAMS = {
    "model": "a Gemma-3 checkpoint directory, or a Hugging Face id such as google/gemma-3-4b-it",
    "adapter": "the adapter directory `vlm2vla-train fit` wrote, or nothing for none",
}


class PreflightError(ValueError):
    """Problems found before start, one line each; nothing was started."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def check_graph(actions: Sequence[Action], files_argument: str = "params_file") -> None:
    """Check every node of ``actions`` whose executable is in :data:`NODE_PARAMS`.

    Raises :class:`PreflightError` with every problem (files first). ``files_argument`` is the
    launch argument that names the parameter files, for the messages.
    """
    problems: list[str] = []
    files: dict[str, dict[str, dict[str, Any]]] = {}
    for spec in (a for a in actions if isinstance(a, NodeSpec)):
        for path in spec.params_files:
            if path not in files:
                try:
                    files[path] = read_params_file(path)
                except ValueError as err:
                    problems.append(f"{files_argument}:={path} {err}")
                    files[path] = {}
    for spec in (a for a in actions if isinstance(a, NodeSpec)):
        params = NODE_PARAMS.get((spec.package, spec.executable))
        if params is not None:
            problems += node_problems(spec, params, files, files_argument)
    if problems:
        raise PreflightError(problems)


def read_params_file(path: str) -> dict[str, dict[str, Any]]:
    """A ROS parameter file: section key -> {dotted parameter name: value}; ValueError if bad."""
    file = Path(path).expanduser()
    if not file.is_file():
        what = "is a directory" if file.is_dir() else "does not exist"
        raise ValueError(f"{what}; pass a parameter YAML file, or nothing for the packaged one")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"cannot be read as YAML ({first})") from None
    if not isinstance(data, Mapping):
        raise ValueError("must map node names to {ros__parameters: {name: value}}")
    sections = {}
    for key, section in data.items():
        if not isinstance(section, Mapping) or "ros__parameters" not in section:
            raise ValueError(f"section {key!r} has no ros__parameters")
        inner = section["ros__parameters"] or {}
        if not isinstance(inner, Mapping):
            raise ValueError(f"section {key!r}: ros__parameters must map names to values")
        sections[str(key)] = _flatten(inner)
    return sections


def section_matches(key: str, namespace: str, name: str) -> bool:
    """Whether the file section ``key`` applies to node ``name`` in ``namespace`` (``/a`` or "").

    As rcl matches them: ``/**`` stands for any number of name tokens, ``*`` for one token; a key
    without a leading slash is relative to the root.
    """
    pattern = "/" + key.lstrip("/")
    parts = []
    for part in pattern.split("/")[1:]:
        if part == "**":
            parts.append(r"(/[^/]+)*")
        else:
            parts.append("/" + re.escape(part).replace(r"\*", "[^/]+"))
    return re.fullmatch("".join(parts), f"{namespace}/{name}") is not None


def node_problems(
    spec: NodeSpec,
    params: Sequence[Param],
    files: Mapping[str, Mapping[str, Mapping[str, Any]]],
    files_argument: str = "params_file",
) -> list[str]:
    """What the node of ``spec`` would refuse at start, one line each."""
    declared = {p.name: p for p in params}
    values: dict[str, tuple[Any, str]] = {}  # name -> (value, where the user wrote it)
    for path in spec.params_files:
        for key, section in files.get(path, {}).items():
            if section_matches(key, spec.namespace, spec.name):
                for name, value in section.items():
                    values[name] = (value, f"{files_argument}:={path} (section {key}: {name})")
    for name, text in spec.parameters.items():
        values[name] = (_yaml_value(text), f"{name}:={text}")
    problems = []
    for name, (value, where) in values.items():
        param = declared.get(name)
        if param is None:
            if not UNDECLARED.match(name):
                problems.append(f"{where}: {spec.name} has no parameter {name!r}")
            continue
        why = type_problem(value, param.default) or (param.check(value) if param.check else None)
        if why:
            problems.append(f"{where}: {spec.name}'s {name} {why}, got {value!r}")
        elif name in DIRECTORY_PARAMS and _missing_directory(value):
            problems.append(f"{where}: no directory {value}; pass {DIRECTORY_PARAMS[name]}")
    return problems


def type_problem(value: Any, default: Any) -> str | None:
    """What ROS would refuse about ``value`` for a parameter whose default is ``default``."""
    if isinstance(default, list):
        if value is None or value == []:
            return None  # `name:=[]` arrives unset: ROS cannot type an empty list
        if not isinstance(value, list):
            return "must be a list"
        if default and any(type_problem(item, default[0]) for item in value):
            return f"must be a list of {_kind(default[0])}"
        return None
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return f"must be a float (write {value}.0: ROS does not turn an integer into a float)"
    if type(value) is not type(default):
        return f"must be {_kind(default)}"
    return None


def _kind(default: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a float", str: "a string"}.get(
        type(default), type(default).__name__
    )


def _yaml_value(text: str) -> Any:
    """A ``-p name:=text`` value as ROS reads it: YAML, else the text itself."""
    try:
        return yaml.safe_load(text) if text else text
    except yaml.YAMLError:
        return text


def _missing_directory(value: Any) -> bool:
    text = str(value)
    return bool(text) and text.startswith((".", "/", "~")) and not Path(text).expanduser().is_dir()


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
