#!/usr/bin/env bash
# Rewrite requirements/constraints.txt from the current venv (after adding a requirement).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
{
  echo "# Exact versions of every Python package of the workspace venv (regenerate: make lock)."
  echo "setuptools==$("$VENV/bin/python" -c 'import setuptools; print(setuptools.__version__)')"
  "$VENV/bin/python" -m pip freeze --exclude-editable | grep -v -E '^(torch==|-e )' | grep -v ' @ '
  echo "torch==2.13.0"
} > requirements/constraints.txt
echo "wrote requirements/constraints.txt"
