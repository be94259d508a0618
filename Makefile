# The workspace's commands. `make setup` once, then `make test`; `make demo` for the offline demo.
SHELL := /bin/bash
.DEFAULT_GOAL := help

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

setup:  ## create .venv (ROS 2 Jazzy wheels or system ROS, CPU torch, ML stack) and colcon build
	bash scripts/setup.sh

build:  ## colcon build the workspace (after setup)
	bash scripts/build.sh

lint:  ## ruff lint and format check; hadolint on every Dockerfile (warnings fail)
	bash -c 'source scripts/env.sh && ruff check . && ruff format --check . \
	  && hadolint --failure-threshold warning docker/*Dockerfile'

format:  ## apply ruff formatting and safe fixes
	bash -c 'source scripts/env.sh && ruff check --fix . && ruff format .'

test: setup  ## build if needed, lint, run every package's tests (PYTEST_ARGS=... to pass more)
	bash scripts/test.sh $(PYTEST_ARGS)

demo:  ## the offline demo: the shipped small policy drives the sim (MODEL=, ADAPTER=, SEED=)
	bash scripts/demo.sh

demo-train:  ## the demo with a policy built here from nothing (EPISODES=, FIT_STEPS=; stages cached)
	bash scripts/demo.sh --train

demo-assets:  ## build the demo policy and write it to assets/demo, the policy `make demo` ships
	bash scripts/demo.sh --train --prepare-only --export-assets assets/demo

docs:  ## regenerate the parameter and launch argument tables of docs/reference.md
	bash -c 'source scripts/env.sh && python scripts/gen_param_docs.py'

lock:  ## rewrite requirements/constraints.txt from the current venv
	bash scripts/lock.sh

clean:  ## remove build outputs (keeps .venv)
	rm -rf build install log

.PHONY: help setup build lint format test demo demo-train demo-assets docs lock clean
