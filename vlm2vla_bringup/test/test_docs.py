"""The documentation is checked against the code.

- docs/reference.md carries every declared parameter of every node and every launch argument of
  every graph, in the tables scripts/gen_param_docs.py renders, and those tables are current.
- Every command of the README's quick start and of docs/quickstart.md exists: make targets in the
  Makefile, scripts and paths in the repository, console scripts in some setup.py, launch files
  and executables in their packages.
- Relative links of the README and docs/ lead to files that exist.
"""

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference.md"
QUICKSTARTS = {"README.md": r"quick start|two commands", "docs/quickstart.md": None}
# Tools from outside the repository that the quick starts may use (their arguments are checked
# where they name something of ours: files, compose services).
EXTERNAL = {"cd", "git", "rosdep", "colcon", "sudo", "apt-get", "export", "mkdir", "docker"}
SEPARATORS = {"&&", "||", ";", "|", "&"}


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "gen_param_docs", ROOT / "scripts/gen_param_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _load_generator()


# --- (a) parameters and launch arguments ------------------------------------------------------
def _section(text: str, heading: str) -> str:
    """The text under ``heading`` (a line) up to the next heading of the same or higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1 :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def test_reference_tables_are_current():
    text = REFERENCE.read_text(encoding="utf-8")
    assert GEN.replace_generated(text, GEN.render()) == text, (
        "docs/reference.md is out of date: run `make docs` (python scripts/gen_param_docs.py)"
    )


def test_every_node_parameter_is_documented():
    text = REFERENCE.read_text(encoding="utf-8")
    tables = GEN.node_params()
    nodes = {t.node for t in tables}
    assert {"controller_node", "policy_node"} <= nodes, nodes
    missing = []
    for table in tables:
        heading = f"#### {table.node}"
        if heading + "\n" not in text:
            missing.append(f"{table.node}: no section")
            continue
        section = _section(text, heading)
        missing += [
            f"{table.node}.{p.name}" for p in table.params if f"| `{p.name}` |" not in section
        ]
    assert not missing, f"not in docs/reference.md (run `make docs`): {missing}"


def test_every_launch_argument_is_documented():
    from vlm2vla_bringup.graph import GRAPHS

    text = REFERENCE.read_text(encoding="utf-8")
    missing = []
    for graph, (arguments, _make) in GRAPHS.items():
        assert (ROOT / "vlm2vla_bringup" / "launch" / f"{graph}.launch.py").is_file(), graph
        heading = f"#### {graph}.launch.py"
        if heading + "\n" not in text:
            missing.append(f"{graph}: no section")
            continue
        section = _section(text, heading)
        missing += [f"{graph}:{a.name}" for a in arguments if f"| `{a.name}` |" not in section]
    assert not missing, f"not in docs/reference.md (run `make docs`): {missing}"


def test_node_discovery_finds_modules_with_params():
    modules = GEN.node_modules()
    assert "vlm2vla_policy.nodes.controller_node" in modules
    assert all(".nodes." in m for m in modules), modules


# --- (b) quick-start commands -----------------------------------------------------------------
def _quickstart(path: str, heading_pattern: str | None) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    if heading_pattern is None:
        return text
    match = re.search(rf"^## .*(?:{heading_pattern}).*$", text, re.M | re.I)
    assert match, f"{path}: no quick start section (a '## ' heading matching {heading_pattern!r})"
    rest = text[match.end() :]
    end = re.search(r"^## ", rest, re.M)
    return rest[: end.start()] if end else rest


def _commands(markdown: str) -> list[str]:
    """Shell commands of the bash/sh code blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", markdown, re.M | re.S):
        joined = block.replace("\\\n", " ")
        commands += [line.strip() for line in joined.splitlines() if line.strip()]
    return commands


def _simple_commands(line: str) -> list[list[str]]:
    """``line`` split into simple commands (at && || ; |), comments dropped, env prefixes off."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in lexer:
        if token in SEPARATORS:
            commands.append(current)
            current = []
        else:
            current.append(token)
    commands.append(current)
    stripped = []
    for words in commands:
        start = 0
        while start < len(words) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[start]):
            start += 1
        if words[start:]:
            stripped.append(words[start:])
    return stripped


def _make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+):", (ROOT / "Makefile").read_text(), re.M))


def _console_scripts() -> dict[str, str]:
    """Console script -> package, from every setup.py's entry points."""
    entry = re.compile(r"[\"']([\w.-]+)\s*=\s*[\w.]+:\w+[\"']")
    return {
        name: setup.parent.name
        for setup in sorted(ROOT.glob("*/setup.py"))
        for name in entry.findall(setup.read_text(encoding="utf-8"))
    }


def _problems(words: list[str]) -> list[str]:
    """What does not exist in one simple command."""
    cmd, args = words[0], words[1:]
    scripts = _console_scripts()
    if cmd == "sudo":
        return _problems(args) if args else []
    if cmd == "make":
        targets = [a for a in args if not a.startswith("-") and "=" not in a]
        return [f"make target {t!r}" for t in targets if t not in _make_targets()]
    if cmd in {"source", ".", "bash", "sh"} or re.fullmatch(r"python[\d.]*", cmd):
        if {"-m", "-c"} & set(args):
            return []  # python -m / -c: nothing of ours to look for
        paths = [a for a in args if not a.startswith("-")]
        if paths and not (ROOT / paths[0]).exists():
            return [f"file {paths[0]!r}"]
        return []
    if "/" in cmd:
        return [] if (ROOT / cmd).exists() else [f"file {cmd!r}"]
    if cmd == "ros2" and len(args) >= 3 and args[0] == "launch":
        launch = ROOT / args[1] / "launch" / args[2]
        return [] if launch.is_file() else [f"launch file {args[1]}/{args[2]}"]
    if cmd == "ros2" and len(args) >= 3 and args[0] == "run":
        return [] if scripts.get(args[2]) == args[1] else [f"executable {args[1]} {args[2]}"]
    if cmd == "ros2":
        return []
    if cmd == "docker":
        return _docker_problems(args)
    if cmd in EXTERNAL:
        return []
    if cmd in scripts:
        return []
    return [f"command {cmd!r} (not a make target, script, console script or known tool)"]


def _docker_problems(args: list[str]) -> list[str]:
    problems = [
        f"file {args[i + 1]!r}"
        for i, a in enumerate(args[:-1])
        if a in {"-f", "--file"} and not (ROOT / args[i + 1]).exists()
    ]
    if args[:1] == ["compose"]:
        files = [args[i + 1] for i, a in enumerate(args[:-1]) if a in {"-f", "--file"}]
        compose = ROOT / (files[0] if files else "docker/compose.yaml")
        if compose.is_file():
            services = set(yaml.safe_load(compose.read_text())["services"])
            rest = [a for a in args[1:] if a not in files]
            verb = next((a for a in rest if not a.startswith("-")), None)
            if verb in {"up", "run", "build"}:
                named = [a for a in rest[rest.index(verb) + 1 :] if not a.startswith("-")]
                if verb == "run":
                    named = named[:1]  # the rest is the command run in the service
                problems += [f"compose service {n!r}" for n in named if n not in services]
    return problems


@pytest.mark.parametrize("path", sorted(QUICKSTARTS))
def test_quickstart_commands_exist(path: str):
    commands = _commands(_quickstart(path, QUICKSTARTS[path]))
    assert commands, f"{path}: no commands found in the quick start"
    assert any(c.startswith("make setup") for c in commands), path
    assert any(c.startswith("make test") for c in commands), path
    problems = [
        f"{line!r}: {problem}"
        for line in commands
        for words in _simple_commands(line)
        for problem in _problems(words)
    ]
    assert not problems, f"{path}: missing\n  " + "\n  ".join(problems)


def test_command_checker_catches_what_is_missing():
    assert _problems(["make", "no-such-target"])
    assert _problems(["vlm2vla-no-such-tool", "--help"])
    assert _problems(["source", "scripts/no_such_env.sh"])
    assert _problems(["ros2", "launch", "vlm2vla_bringup", "nothing.launch.py"])
    assert _problems(["docker", "compose", "-f", "docker/compose.yaml", "up", "no_service"])
    assert not _problems(["make", "test", "PYTEST_ARGS=-q"])
    assert not _problems(["vlm2vla-train", "--help"])
    assert _simple_commands("A=1 make setup && make test  # two") == [
        ["make", "setup"],
        ["make", "test"],
    ]


# --- links ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "doc", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md"))]
)
def test_relative_links_resolve(doc: str):
    path = ROOT / doc
    links = re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8"))
    broken = [
        link
        for link in links
        if not re.match(r"^[a-z]+:|^#", link) and not (path.parent / link.split("#", 1)[0]).exists()
    ]
    assert not broken, f"{doc}: broken links {broken}"
