"""Rewrite the build machine's Python paths baked into the ROS 2 wheels' CMake export files.

The PyPI wheels of ROS 2 Jazzy were built under /opt/python/cp311-cp311; their
``share/**/*.cmake`` files name that interpreter's include dir and numpy's include dir, so
building any interface package against them fails. This points them at the local ones.
Idempotent. Usage: python scripts/fix_wheel_cmake.py VENV_PREFIX
"""

import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_PYTHON = "/opt/python/cp311-cp311"
PATTERNS = {
    f"{BUILD_PYTHON}/lib/python3.11/site-packages/numpy/_core/include": numpy.get_include(),
    f"{BUILD_PYTHON}/include/python3.11": sysconfig.get_paths()["include"],
}


def fix(prefix: Path) -> int:
    """Rewrite every matching CMake file under ``prefix/share``; return how many changed."""
    changed = 0
    for path in (prefix / "share").rglob("*.cmake"):
        text = path.read_text(errors="surrogateescape")
        new = text
        for old, local in PATTERNS.items():
            new = new.replace(old, local)
        if new != text:
            path.write_text(new, errors="surrogateescape")
            changed += 1
    return changed


def mark_prefix(prefix: Path) -> None:
    """Give the venv the (empty) local_setup files colcon expects of every ament prefix."""
    for shell in ("sh", "bash"):
        setup = prefix / f"local_setup.{shell}"
        if not setup.exists():
            setup.write_text("# ROS 2 wheels in this venv need no environment set-up.\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: fix_wheel_cmake.py VENV_PREFIX")
    venv = Path(sys.argv[1])
    print(f"== fixed Python paths in {fix(venv)} CMake export files")
    mark_prefix(venv)
