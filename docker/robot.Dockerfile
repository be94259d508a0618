# syntax=docker/dockerfile:1
# The robot PC image (GPU): ROS 2, the Interbotix X-series driver built from source, CUDA PyTorch
# and the ML stack, and this workspace. Build from the repository root:
#
#   docker build -f docker/robot.Dockerfile -t vlm2vla/robot:jazzy .
#   docker build -f docker/robot.Dockerfile --build-arg ROS_DISTRO=humble -t vlm2vla/robot:humble .
#   docker build -f docker/robot.Dockerfile --target train -t vlm2vla/train:jazzy .
#
# Stages: builder (compilers, colcon, rosdep; builds everything) -> runtime (the robot image: the
# built workspaces, the venv and their run-time packages only; no compilers) -> train (runtime plus
# DeepSpeed, datasets, tensorboard). docker/compose.yaml runs them. Python packages live in the venv
# /opt/vlm2vla/venv, which also sees the distro's ROS 2 Python; their exact versions are in
# docker/constraints-<distro>.txt (regenerate with `bash docker/lock.sh`).

ARG ROS_DISTRO=jazzy

# ---------------------------------------------------------------------------------------------
FROM ros:${ROS_DISTRO}-ros-base AS builder
ARG ROS_DISTRO
# torch: the version of requirements/constraints.txt; the CUDA build of the PyTorch index (cu130
# is also the CUDA of the PyPI Linux wheel; it needs an NVIDIA driver >= 580).
ARG TORCH_VERSION=2.13.0
ARG TORCH_CUDA=cu130
# Interbotix sources: the branch named after the distro, as Trossen's install script clones them.
# Set the *_REF arguments to commit hashes to pin the exact sources (recorded in SOURCES.txt).
ARG INTERBOTIX_BRANCH=${ROS_DISTRO}
ARG INTERBOTIX_CORE_REF=""
ARG INTERBOTIX_TOOLBOXES_REF=""
ARG INTERBOTIX_MANIPULATORS_REF=""

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VENV=/opt/vlm2vla/venv
# After the last ARG/ENV of the stage: hadolint forgets SHELL at each ARG/ENV (its shellcheck
# would read the RUN lines below as POSIX sh).
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# ROS packages are replaced in place on packages.ros.org (old versions are deleted), so exact apt
# versions would stop the image from building within weeks; the base image tag fixes the distro.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git python3-dev python3-venv \
 && rm -rf /var/lib/apt/lists/*

# The venv: distro Python with the distro's site-packages visible (rclpy, numpy, the ROS tools).
COPY docker/requirements-robot.txt docker/requirements-train.txt docker/constraints-${ROS_DISTRO}.txt /opt/vlm2vla/pins/
RUN python3 -m venv --system-site-packages "$VENV" \
 && "$VENV/bin/pip" install \
      --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}" \
      --extra-index-url https://pypi.org/simple \
      -c "/opt/vlm2vla/pins/constraints-${ROS_DISTRO}.txt" "torch==${TORCH_VERSION}" \
 && "$VENV/bin/pip" install -r /opt/vlm2vla/pins/requirements-robot.txt \
      -c "/opt/vlm2vla/pins/constraints-${ROS_DISTRO}.txt"

# The Interbotix X-series workspace, as Trossen's xsarm_amd64_install.sh builds it (same three
# repositories and branch, the driver submodules), limited to what interbotix_xsarm_control needs.
WORKDIR /opt/interbotix_ws/src
RUN git clone --branch "$INTERBOTIX_BRANCH" https://github.com/Interbotix/interbotix_ros_core.git \
 && git clone --branch "$INTERBOTIX_BRANCH" https://github.com/Interbotix/interbotix_ros_toolboxes.git \
 && git clone --branch "$INTERBOTIX_BRANCH" https://github.com/Interbotix/interbotix_ros_manipulators.git \
 && for pin in interbotix_ros_core="$INTERBOTIX_CORE_REF" \
               interbotix_ros_toolboxes="$INTERBOTIX_TOOLBOXES_REF" \
               interbotix_ros_manipulators="$INTERBOTIX_MANIPULATORS_REF"; do \
      if [ -n "${pin#*=}" ]; then git -C "${pin%%=*}" checkout --detach "${pin#*=}"; fi; \
    done \
 && git -C interbotix_ros_core submodule update --init --recursive \
 && for repo in interbotix_ros_*; do \
      echo "$repo $(git -C "$repo" rev-parse HEAD)" >> /opt/interbotix_ws/SOURCES.txt; \
    done

# rosdep (like the install script), then colcon with the venv's Python so that Python scripts get
# the venv interpreter; `python -m colcon` needs nothing beyond the distro's colcon packages.
# Exec dependencies are recorded for the runtime stage.
WORKDIR /opt/interbotix_ws
RUN source "/opt/ros/$ROS_DISTRO/setup.bash" \
 && mapfile -t pkgs < <(colcon list --base-paths src --packages-up-to interbotix_xsarm_control --paths-only) \
 && apt-get update \
 && rosdep update --rosdistro "$ROS_DISTRO" \
 && rosdep install -y -r --ignore-src --rosdistro "$ROS_DISTRO" --from-paths "${pkgs[@]}" \
 && rosdep install -s -r --reinstall --ignore-src --rosdistro "$ROS_DISTRO" --dependency-types exec \
      --from-paths "${pkgs[@]}" | sed -n 's/.*apt-get install -y //p' > /opt/interbotix_ws/apt-exec.txt \
 && rm -rf /var/lib/apt/lists/* \
 && "$VENV/bin/python" -m colcon build --base-paths src --packages-up-to interbotix_xsarm_control \
      --event-handlers console_cohesion- summary+ \
      --cmake-args -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" \
 && rm -rf build log

# This workspace. compat/interbotix_xs_msgs is not copied: the real interbotix_xs_msgs was just
# built (checked with scripts/find_package.py, the test scripts/build.sh uses to skip the copy).
# python3-torch/-transformers-pip/-peft-pip are in the venv already; rosdep must not install them.
WORKDIR /opt/vlm2vla/src
COPY vlm2vla_msgs vlm2vla_msgs
COPY vlm2vla_policy vlm2vla_policy
COPY vlm2vla_bringup vlm2vla_bringup
COPY vlm2vla_training vlm2vla_training
COPY vlm2vla_sim vlm2vla_sim
COPY scripts/find_package.py scripts/find_package.py
RUN source "/opt/ros/$ROS_DISTRO/setup.bash" \
 && source /opt/interbotix_ws/install/setup.bash \
 && { python3 scripts/find_package.py interbotix_xs_msgs \
      || { echo "error: interbotix_xs_msgs was not built in /opt/interbotix_ws" >&2; exit 1; }; } \
 && skip=(python3-torch python3-transformers-pip python3-peft-pip) \
 && apt-get update \
 && rosdep install -y -r --ignore-src --rosdistro "$ROS_DISTRO" --from-paths vlm2vla_* --skip-keys "${skip[*]}" \
 && rosdep install -s -r --reinstall --ignore-src --rosdistro "$ROS_DISTRO" --dependency-types exec \
      --from-paths vlm2vla_* --skip-keys "${skip[*]}" \
      | sed -n 's/.*apt-get install -y //p' > /opt/vlm2vla/apt-exec.txt \
 && rm -rf /var/lib/apt/lists/* \
 && "$VENV/bin/python" -m colcon build --base-paths vlm2vla_* --install-base /opt/vlm2vla/install \
      --event-handlers console_cohesion- summary+ \
      --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" \
 && rm -rf build log \
 && mkdir -p /opt/vlm2vla/vlm2vla_training \
 && cp -r vlm2vla_training/configs /opt/vlm2vla/vlm2vla_training/configs

# ---------------------------------------------------------------------------------------------
FROM ros:${ROS_DISTRO}-ros-core AS runtime
ARG ROS_DISTRO
ARG ACCOUNT=vlm2vla
ARG ACCOUNT_UID=1000
# Extra ROS packages (apt names without the ros-<distro>- prefix): the camera drivers the docs use.
# Add realsense2-camera for an Intel RealSense.
ARG EXTRA_ROS_PACKAGES="usb-cam"

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/vlm2vla/venv \
    PATH=/opt/vlm2vla/venv/bin:$PATH \
    HF_HOME=/home/${ACCOUNT}/.cache/huggingface \
    MUJOCO_GL=egl \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    PYTHONUNBUFFERED=1 \
    VLM2VLA_HEALTH_NODES="/policy_node /controller_node"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Run-time packages only: what rosdep resolved as exec dependencies in the builder, the camera
# drivers, EGL for MuJoCo's offscreen rendering (Mesa; NVIDIA's with the graphics capability).
COPY --from=builder /opt/interbotix_ws/apt-exec.txt /tmp/apt-interbotix.txt
COPY --from=builder /opt/vlm2vla/apt-exec.txt /tmp/apt-vlm2vla.txt
# No apt versions: packages.ros.org replaces packages in place (see the builder); the tag pins.
# hadolint ignore=DL3008
RUN read -r -a extra <<< "$EXTRA_ROS_PACKAGES" \
 && mapfile -t exec_deps < <(cat /tmp/apt-interbotix.txt /tmp/apt-vlm2vla.txt | xargs -n1 | sort -u) \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      "${exec_deps[@]}" "${extra[@]/#/ros-$ROS_DISTRO-}" \
      libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri \
 && rm -rf /var/lib/apt/lists/* /tmp/apt-*.txt

# The promise of this stage: nothing here can compile (the builder stays behind).
RUN for tool in cc c++ gcc g++ clang nvcc; do \
      if command -v "$tool" >/dev/null; then echo "error: $tool is in the runtime image" >&2; exit 1; fi; \
    done

COPY --from=builder /opt/vlm2vla/venv /opt/vlm2vla/venv
COPY --from=builder /opt/interbotix_ws/install /opt/interbotix_ws/install
COPY --from=builder /opt/interbotix_ws/SOURCES.txt /opt/interbotix_ws/SOURCES.txt
COPY --from=builder /opt/vlm2vla/install /opt/vlm2vla/install
COPY --from=builder /opt/vlm2vla/pins /opt/vlm2vla/pins
COPY --from=builder /opt/vlm2vla/vlm2vla_training /opt/vlm2vla/vlm2vla_training
COPY docker/setup.bash /opt/vlm2vla/setup.bash
COPY --chmod=0755 docker/ros2-venv.sh /opt/vlm2vla/venv/bin/ros2
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/vlm2vla-entrypoint
COPY --chmod=0755 docker/healthcheck.sh /usr/local/bin/vlm2vla-healthcheck

# A non-root user in the groups that own serial adapters (dialout: /dev/ttyDXL) and cameras
# (video). Ubuntu 24.04 images ship a user "ubuntu" with uid 1000; it makes room.
RUN if id -u ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
 && useradd --create-home --uid "$ACCOUNT_UID" --groups dialout,video --shell /bin/bash "$ACCOUNT" \
 && mkdir -p "$HF_HOME" "/home/$ACCOUNT/.ros" \
 && chown -R "$ACCOUNT:$ACCOUNT" "/home/$ACCOUNT" \
 && echo "source /opt/vlm2vla/setup.bash" >> "/home/$ACCOUNT/.bashrc"

# Numeric, so that runtimes can verify it is not root (e.g. Kubernetes runAsNonRoot).
USER ${ACCOUNT_UID}
WORKDIR /home/${ACCOUNT}
ENTRYPOINT ["/usr/local/bin/vlm2vla-entrypoint"]
CMD ["ros2", "launch", "vlm2vla_bringup", "robot.launch.py"]
# Healthy when the nodes named in VLM2VLA_HEALTH_NODES are on the ROS graph (docker/healthcheck.sh);
# the start period covers loading a 12B model.
HEALTHCHECK --interval=30s --timeout=30s --start-period=300s --retries=3 \
  CMD ["/usr/local/bin/vlm2vla-healthcheck"]

# ---------------------------------------------------------------------------------------------
FROM runtime AS train
ARG ACCOUNT_UID=1000
ENV VLM2VLA_HEALTH_NODES=none \
    DS_BUILD_OPS=0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# deepspeed is source-only on PyPI and its setup imports torch, hence --no-build-isolation; it is
# told it installs for CUDA (no GPU is visible while building). No DeepSpeed op is prebuilt or
# needed: the shipped ZeRO-2 config leaves the optimizer to the trainer (torch AdamW).
USER 0
RUN DS_ACCELERATOR=cuda pip install --no-build-isolation -r /opt/vlm2vla/pins/requirements-train.txt \
      -c "/opt/vlm2vla/pins/constraints-${ROS_DISTRO}.txt"
USER ${ACCOUNT_UID}
WORKDIR /opt/vlm2vla
CMD ["accelerate", "launch", "--config_file", "vlm2vla_training/configs/accelerate_multi_gpu.yaml", \
     "-m", "vlm2vla_training.cli", "fit", "--help"]
