#!/usr/bin/env bash
# Lint, then every package's tests in one pytest run (one summary line, an honest exit code).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -eo pipefail
source "$(dirname "$0")/env.sh"  # before `set -u`: ROS setup files use unset variables
set -u
cd "$ROOT"
echo "== ruff"
ruff check .
ruff format --check .
echo "== pytest"
# `pytest`, not `python -m pytest`: the latter puts the source root on sys.path, where the package
# folders would shadow the installed packages.
exec pytest "$@"
