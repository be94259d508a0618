"""Common mistakes, made with the real console scripts: one line naming the flag, no traceback.

Each case runs the installed command (a subprocess, as a user would), and checks the exit code
(2 for a usage error; a node that cannot start exits with 1), that the message names what the
user typed (``--model``, ``allow_download:=true``, ``params_file:=``) and not the dataclass field
(``ModelConfig.model``), that it is one line, and that no traceback is printed.
``vlm2vla-launch`` must also start nothing when its arguments or parameter file are wrong.
"""

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from vlm2vla_policy.processes import ros_executable

UNCACHED_MODEL = "google/gemma-3-4b-it"  # a hub id: never in the empty cache the test gives


@dataclass(frozen=True)
class Mistake:
    cmd: str  # a shell-like command line; {tmp} is replaced by the test's directory
    names: tuple[str, ...]  # what the one error line must contain
    code: int = 2
    prefix: str = "error: "  # how the error line is told apart (a node logs [FATAL])


MISTAKES = {
    "sim-eval wrong --model": Mistake(
        "vlm2vla-sim-eval --task 'pick up the block' --model {tmp}/no-model --out {tmp}/eval",
        ("--model", "{tmp}/no-model"),
    ),
    "sim-eval uncached model": Mistake(
        f"vlm2vla-sim-eval --task 'pick up the block' --model {UNCACHED_MODEL} --out {{tmp}}/eval",
        ("--model", "--allow-download"),
    ),
    "sim-eval --out is a file": Mistake(
        "vlm2vla-sim-eval --task 'pick up the block' --random --out {tmp}/file",
        ("--out", "exists"),
    ),
    "bag info of a missing bag": Mistake(
        "vlm2vla-bag info /nonexistent", ("BAG", "/nonexistent does not exist")
    ),
    "bag play of a folder without .mcap": Mistake(
        "vlm2vla-bag play {tmp}/empty", ("BAG", "no .mcap file in")
    ),
    "bag sample into an existing directory": Mistake(
        "vlm2vla-bag sample {tmp}/empty", ("OUTPUT", "already exists")
    ),
    "bag record into an existing directory": Mistake(
        "vlm2vla-bag record -o {tmp}/empty /camera/image_raw --duration 1",
        ("--output", "already exists"),
    ),
    "serve wrong --model": Mistake(
        "vlm2vla-serve --model {tmp}/no-model", ("--model", "{tmp}/no-model")
    ),
    "serve uncached model": Mistake(
        f"vlm2vla-serve --model {UNCACHED_MODEL}", ("--model", "--allow-download")
    ),
    "train fit bad --set value": Mistake(
        "vlm2vla-train fit --config debug --set lora_r=0 --model x --data {tmp} --out {tmp}/run",
        ("--set lora_r", "must be >= 1"),
    ),
    "launch missing params_file": Mistake(
        "vlm2vla-launch sim params_file:={tmp}/none.yaml",
        ("params_file:={tmp}/none.yaml", "does not exist"),
    ),
    "launch unknown parameter in params_file": Mistake(
        "vlm2vla-launch sim params_file:={tmp}/typo.yaml",
        ("params_file:={tmp}/typo.yaml", "policy_node has no parameter 'temprature_plan'"),
    ),
    "launch missing model directory": Mistake(
        "vlm2vla-launch sim model:={tmp}/no-model", ("model:={tmp}/no-model",)
    ),
    "launch wrongly typed argument": Mistake(
        "vlm2vla-launch sim render_hz:=10", ("render_hz:=10", "write 10.0")
    ),
    "policy_node wrong model": Mistake(
        "policy_node --ros-args -p model:={tmp}/no-model",
        ("parameter 'model'", "{tmp}/no-model"),
        code=1,
        prefix="[FATAL]",
    ),
    "policy_node uncached model": Mistake(
        f"policy_node --ros-args -p model:={UNCACHED_MODEL}",
        ("parameter 'model'", "allow_download:=true"),
        code=1,
        prefix="[FATAL]",
    ),
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("not a directory\n")
    (tmp_path / "typo.yaml").write_text(
        "/**/policy_node:\n  ros__parameters:\n    temprature_plan: 0.3\n"
    )
    return tmp_path


def _run(cmd: list[str], tmp: Path) -> subprocess.CompletedProcess:
    if cmd[0] == "policy_node":
        cmd = [ros_executable("vlm2vla_policy", "policy_node"), *cmd[1:]]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp / "hf"), OMP_NUM_THREADS="1")
    return subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=180, env=env, cwd=tmp
    )


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_common_mistake_prints_one_line_naming_the_flag(name, workdir):
    mistake = MISTAKES[name]
    cmd = [part.replace("{tmp}", str(workdir)) for part in shlex.split(mistake.cmd)]
    result = _run(cmd, workdir)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if mistake.prefix in line]
    assert len(errors) == 1, output
    for expected in mistake.names:
        assert expected.replace("{tmp}", str(workdir)) in errors[0], output
    assert "Config." not in errors[0], f"names a dataclass field, not the flag: {errors[0]}"
    assert result.returncode == mistake.code, output
    if cmd[0] == "vlm2vla-launch":  # nothing was started
        assert "[vlm2vla-launch] " not in output, output


def test_launch_options_may_come_after_the_launch_arguments(workdir):
    result = _run(["vlm2vla-launch", "sim", "seed:=3", "--print", "dry_run:=true"], workdir)
    assert result.returncode == 0, result.stderr
    assert "-p seed:=3" in result.stdout and "-p dry_run:=true" in result.stdout
