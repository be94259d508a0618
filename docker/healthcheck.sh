#!/usr/bin/env bash
# Docker HEALTHCHECK of the vlm2vla images: healthy (0) when every expected node is on the ROS
# graph, unhealthy (1) otherwise. Expected nodes: the arguments, else VLM2VLA_HEALTH_NODES
# (space-separated fully qualified names; "none" always passes, e.g. for training).
# Readiness by hand: docker compose exec robot vlm2vla-healthcheck /policy_node
# The graph is the whole ROS_DOMAIN_ID: give each robot its own domain, or another machine's
# policy_node will answer for this one.
set -o pipefail
# shellcheck disable=SC1091
source /opt/vlm2vla/setup.bash >/dev/null 2>&1 || { echo "cannot source /opt/vlm2vla/setup.bash"; exit 1; }

if [ $# -gt 0 ]; then
  expected=("$@")
else
  read -r -a expected <<< "${VLM2VLA_HEALTH_NODES:-/policy_node /controller_node}"
fi
if [ "${expected[*]}" = "none" ]; then
  exit 0
fi
# --no-daemon: a fresh discovery every time (a daemon could remember a node that died).
if ! nodes="$(timeout 25 ros2 node list --no-daemon --spin-time "${VLM2VLA_HEALTH_SPIN_S:-3}" 2>&1)"; then
  echo "ros2 node list failed: $nodes"
  exit 1
fi
missing=()
for node in "${expected[@]}"; do
  grep -qxF -- "$node" <<< "$nodes" || missing+=("$node")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "not on the ROS graph (ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-0}): ${missing[*]}"
  exit 1
fi
echo "on the ROS graph: ${expected[*]}"
