# syntax=docker/dockerfile:1
# The development image (CPU): this repository's `make setup` on Debian 12 with Python 3.11 (the
# ROS 2 Jazzy PyPI wheels are cp311), then `make test` as its command. Build from the repository
# root, run the tests:
#
#   docker build -f docker/dev.Dockerfile -t vlm2vla/dev .
#   docker run --rm --shm-size=1g vlm2vla/dev                  # make test
#   docker run --rm -it vlm2vla/dev bash                       # then: source scripts/env.sh
#
# No system ROS: `make setup` installs the ROS 2 Jazzy wheels, CPU torch and the ML stack into
# .venv exactly as on a workstation (versions from requirements/constraints.txt).
FROM python:3.11.14-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MUJOCO_GL=egl
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# What `make setup` expects of the machine beyond Python 3.11 (gcc, g++, make and git come with
# the image): cmake for the interface packages, EGL for MuJoCo's offscreen rendering.
# Debian's point releases replace these packages in place; the bookworm tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 --shell /bin/bash dev

USER 1000
WORKDIR /home/dev/vlm2vla

# torch first, from the PyTorch CPU index: on PyPI the Linux wheel of the same version is the CUDA
# build (gigabytes of CUDA libraries). `make setup` then finds torch==2.13.0 satisfied (+cpu).
# Its dependencies come with `make setup`, under the workspace's constraints.
ARG TORCH_VERSION=2.13.0
RUN python3.11 -m venv .venv \
 && .venv/bin/pip install --no-deps --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"

# `make setup` in two steps so that editing code does not reinstall the requirements: first with
# only the set-up files (installs everything; colcon finds no package yet), then with the rest.
COPY --chown=dev:dev Makefile ./
COPY --chown=dev:dev requirements requirements
COPY --chown=dev:dev scripts scripts
RUN make setup
COPY --chown=dev:dev . .
RUN make setup

CMD ["make", "test"]
