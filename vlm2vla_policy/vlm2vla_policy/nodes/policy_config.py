"""policy_node's parameters and their translation into the runtime's configuration.

Kept apart from the node (and ROS-free) so the parameter table can be read (docs, launch checks)
and the translation tested without starting a node. Every parameter is derived from a dataclass
field: the model, server, sampling and verifier settings from
:class:`~vlm2vla_policy.runtime.config.PolicyConfig`, the loop's from
:class:`~vlm2vla_policy.runtime.episode_loop.LoopConfig`, the node's own from
:class:`PolicyNodeConfig`.
"""

from dataclasses import dataclass

from vlm2vla_policy.nodes.controller_config import ControllerConfig
from vlm2vla_policy.nodes.params import Param, derived_config, params_from
from vlm2vla_policy.overlay import DebugImageConfig, OverlayConfig
from vlm2vla_policy.robot import ExecutorConfig
from vlm2vla_policy.runtime.config import (
    VERIFIERS,
    ModelConfig,
    PolicyConfig,
    SamplingConfig,
    VerifierConfig,
)
from vlm2vla_policy.runtime.episode_loop import LoopConfig
from vlm2vla_policy.settings import default_of, like, setting, spec, validate

SAMPLED_STAGES = ("subtasks", "plan", "chunk")
"""Stages whose sampling the node's parameters set (verification stays greedy)."""


@dataclass(frozen=True)
class PolicyNodeConfig:
    """policy_node's own settings; the model's and the loop's are the runtime's configs."""

    adapter: str = like(
        ModelConfig,
        "adapter",
        "LoRA adapter directory written by `vlm2vla-train fit` (backend remote: a local copy of "
        "the served one, for its text format); empty = none",
    )
    verifier: str = setting(
        default_of(VerifierConfig, "kind"),
        spec(VerifierConfig, "kind").description + "; none: advance after every executed chunk",
        choices=(*VERIFIERS, "none"),
    )
    top_p: float = like(SamplingConfig, "top_p", "nucleus sampling mass of every stage")
    seed: int = setting(-1, "sampler seed; -1 draws a fresh one", low=-1)
    instruction_topic: str = setting(
        "vlm2vla/instruction",
        "std_msgs/String instructions (reliable, transient local); empty string = stop; "
        "relative names resolve in the node's namespace",
    )
    act_on_earlier_instruction: bool = setting(
        False,
        "act on an instruction published before this node started (a latched one still on the "
        "topic, judged by its DDS source timestamp); false: ignore it and say so in the status",
    )
    image_transport: str = setting(
        "raw",
        "raw: sensor_msgs/Image on `image`; compressed: sensor_msgs/CompressedImage on "
        "`image/compressed`",
        choices=("raw", "compressed"),
    )
    max_instruction_chars: int = setting(
        500, "longest accepted instruction", unit="UTF-8 characters", low=1, high=10000
    )
    controller_action: str = setting(
        "controller_node/execute_chunk",
        "ExecuteChunk action to call (relative: in the node's namespace); streamed steps and "
        "lease heartbeats go to its node's chunk_steps topic",
    )
    lease_heartbeat_s: float = setting(
        0.1,
        "period of the lease heartbeat sent for the running chunk; keep it well below the "
        "controller's lease_timeout_s",
        unit="s",
        low=0.01,
        high=5.0,
    )
    chunk_timeout_s: float = setting(
        120.0, "longest wait for one chunk's execution", unit="s", above=0.0
    )
    step_duration_s: float = like(
        ExecutorConfig, "period_s", "nominal duration of a chunk step, written into ActionChunk"
    )
    base_frame: str = like(ControllerConfig, "base_frame", "frame_id of published chunks")
    dry_run: bool = setting(False, "decide and publish chunks, do not send them to the controller")

    def __post_init__(self) -> None:
        validate(self)


PARAMS: tuple[Param, ...] = (
    *params_from(PolicyConfig, ("model.model",)),
    *params_from(PolicyNodeConfig, ("adapter",)),
    *params_from(
        PolicyConfig,
        ("model.merge_adapter", "model.device", "model.cpu_threads", "model.dtype",
         "model.quantization", "model.allow_download", "backend"),
    ),
    *params_from(
        PolicyConfig,
        ("remote.base_url", "remote.model", "remote.base_model", "remote.api_key_env",
         "remote.guided_decoding", "remote.timeout_s"),
        prefix="remote_",
        rename={"remote.base_url": "remote_url"},
    ),
    *params_from(PolicyNodeConfig, ("verifier",)),
    *params_from(
        PolicyConfig,
        ("verifier.remote.base_url", "verifier.remote.model"),
        rename={"verifier.remote.base_url": "verifier_url",
                "verifier.remote.model": "verifier_model"},
    ),
    *params_from(
        PolicyConfig,
        ("constrained", "max_retries", "prefix_reuse", "prefix_capacity", "jump_forward",
         *(f"sampling.{s}.temperature" for s in SAMPLED_STAGES)),
        rename={"max_retries": "max_output_retries",
                **{f"sampling.{s}.temperature": f"temperature_{s}" for s in SAMPLED_STAGES}},
    ),
    *params_from(
        PolicyNodeConfig,
        ("top_p", "seed", "instruction_topic", "act_on_earlier_instruction", "image_transport"),
    ),
    *params_from(LoopConfig, ("image_timeout_s", "image_wait_s", "max_retries_per_subtask")),
    *params_from(PolicyNodeConfig, ("max_instruction_chars", "controller_action")),
    *params_from(LoopConfig, ("streaming",)),
    *params_from(
        PolicyNodeConfig,
        ("lease_heartbeat_s", "chunk_timeout_s", "step_duration_s", "base_frame", "dry_run"),
    ),
    *params_from(
        DebugImageConfig, ("enabled", "rate_hz", "joint_states_topic"),
        rename={"enabled": "debug_image", "rate_hz": "debug_image_rate_hz"},
    ),
    *params_from(
        OverlayConfig, ("camera_position_m", "camera_look_at_m", "min_width_px"),
        rename={"min_width_px": "debug_image_min_width_px"},
    ),
)  # fmt: skip


def node_config(p: dict) -> PolicyNodeConfig:
    """The node's own settings from its parameter values."""
    return derived_config(PolicyNodeConfig, PARAMS, p)


def policy_config(p: dict) -> PolicyConfig:
    """The runtime's :class:`PolicyConfig` from the node's parameter values."""
    node = node_config(p)
    adapter = "model.adapter" if p["backend"] == "hf" else "remote.adapter"
    changes = {adapter: node.adapter, "seed": None if node.seed < 0 else node.seed}
    changes |= {f"sampling.{stage}.top_p": node.top_p for stage in SAMPLED_STAGES}
    if node.verifier != "none":
        changes["verifier.kind"] = node.verifier
    return derived_config(PolicyConfig, PARAMS, p, changes)


def loop_config(p: dict) -> LoopConfig:
    """The episode loop's configuration from the node's parameter values."""
    return derived_config(LoopConfig, PARAMS, p, {"verify": node_config(p).verifier != "none"})


def debug_image_config(p: dict) -> DebugImageConfig:
    """The ~/debug_image publisher's settings from the node's parameter values."""
    return derived_config(DebugImageConfig, PARAMS, p)


def overlay_config(p: dict) -> OverlayConfig:
    """What ~/debug_image draws and where its camera stands, from the node's parameter values."""
    return derived_config(OverlayConfig, PARAMS, p)


def steps_topic(controller_action: str) -> str:
    """The controller's ChunkSteps topic: ``chunk_steps`` beside its ExecuteChunk action.

    Relative stays relative (``controller_node/execute_chunk`` -> ``controller_node/chunk_steps``,
    ``execute_chunk`` -> ``chunk_steps``), absolute stays absolute.
    """
    namespace, slash, _ = controller_action.rpartition("/")
    return f"{namespace}{slash}chunk_steps"
