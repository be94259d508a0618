#!/usr/bin/env bash
# The offline demo: a thin wrapper over vlm2vla_experiments.demo (`vlm2vla-demo --help` lists its options).
# Runs `make setup` first on a fresh machine; MODEL=, ADAPTER=, EPISODES= (and the other variables
# the README's demo section lists) pass through the environment.
set -eo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .venv/bin/activate ] || [ ! -f install/local_setup.bash ]; then
  echo "== make demo: first run on this machine, running make setup"
  make setup
fi
source scripts/env.sh  # before `set -u`: ROS setup files use unset variables
set -u
exec python -m vlm2vla_experiments.demo "$@"
