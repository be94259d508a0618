"""policy_node's parameters and their translation into the runtime's configuration.

Kept apart from the node so the parameter table can be read (docs, launch checks) and the
translation tested without starting a node.
"""

from dataclasses import replace

from vlm2vla_policy.nodes.params import Param, in_range, non_negative, one_of, positive
from vlm2vla_policy.runtime.config import (
    DTYPES,
    GUIDED_DECODING,
    QUANTIZATIONS,
    ModelConfig,
    PolicyConfig,
    RemoteConfig,
    StageSampling,
    VerifierConfig,
)
from vlm2vla_policy.runtime.episode_loop import LoopConfig

PARAMS = (
    Param("model", "google/gemma-3-12b-it",
          "Gemma-3 image-text checkpoint: local directory or Hugging Face id (local cache)"),
    Param("adapter", "", "LoRA adapter directory written by `vlm2vla-train fit`; empty = none"),
    Param("merge_adapter", False, "merge the LoRA into the weights (faster; not with onboard "
          "verification)"),
    Param("device", "auto", "torch device: auto (CUDA when present), cuda, cuda:1, cpu"),
    Param("cpu_threads", 0, "CPU threads torch may use; 0 = one per core (the simulator graph "
          "sets 1 to leave a core to the physics)", in_range(0, 1024)),
    Param("dtype", "auto", "weight dtype: auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16, "
          "float16", one_of(*DTYPES)),
    Param("quantization", "none", "bitsandbytes weight quantization on CUDA: none, 4bit, 8bit",
          one_of(*QUANTIZATIONS)),
    Param("backend", "hf", "hf: model in this process; remote: an OpenAI-compatible server",
          one_of("hf", "remote")),
    Param("remote_url", "http://127.0.0.1:8000/v1", "base URL of the remote server, up to /v1"),
    Param("remote_model", "vlm2vla", "model (or LoRA) name served by the remote server"),
    Param("remote_base_model", "", "served name of the base model (onboard verify over remote)"),
    Param("remote_api_key_env", "VLM2VLA_API_KEY", "environment variable holding the bearer token"),
    Param("remote_guided_decoding", "structured_outputs",
          "how the remote server is asked to constrain output", one_of(*GUIDED_DECODING)),
    Param("remote_timeout_s", 120.0, "longest wait for one remote answer, s", positive),
    Param("verifier", "onboard", "onboard: base model with the adapter disabled; adapter: the "
          "fine-tuned model (adapter trained on verification); remote: an external chat "
          "endpoint; none: advance after every executed chunk",
          one_of("onboard", "adapter", "remote", "none")),
    Param("verifier_url", "http://127.0.0.1:8001/v1", "base URL of the remote verifier"),
    Param("verifier_model", "verifier", "model name of the remote verifier"),
    Param("constrained", True, "constrain every stage's output to its grammar"),
    Param("max_output_retries", 2, "extra generations when an output does not parse",
          in_range(0, 10)),
    Param("temperature_subtasks", 0.5, "sampling temperature of the subtask list (paper: 0.5 in "
          "distribution, 1.0 out of distribution)", in_range(0.0, 2.0)),
    Param("temperature_plan", 0.1, "sampling temperature of the motion plan", in_range(0.0, 2.0)),
    Param("temperature_chunk", 0.5, "sampling temperature of the action chunk", in_range(0.0, 2.0)),
    Param("top_p", 0.95, "nucleus sampling mass of every stage", in_range(0.01, 1.0)),
    Param("seed", -1, "sampler seed; -1 draws a fresh one"),
    Param("instruction_topic", "/vlm2vla/instruction",
          "std_msgs/String instructions (reliable, transient local); empty string = stop"),
    Param("act_on_earlier_instruction", False, "act on an instruction published before this "
          "node started (a latched one still on the topic, judged by its DDS source timestamp); "
          "false: ignore it and say so in the status"),
    Param("image_transport", "raw", "raw: sensor_msgs/Image on `image`; compressed: "
          "sensor_msgs/CompressedImage on `image/compressed`", one_of("raw", "compressed")),
    Param("image_timeout_s", 1.0, "never act on an image older than this, s", positive),
    Param("image_wait_s", 5.0, "wait this long for a fresh image before failing, s",
          non_negative),
    Param("max_retries_per_subtask", 4, "extra cycles on a subtask before failing",
          in_range(0, 100)),
    Param("max_instruction_chars", 500, "longest accepted instruction (UTF-8 characters)",
          in_range(1, 10000)),
    Param("controller_action", "/controller_node/execute_chunk", "ExecuteChunk action to call; "
          "streamed steps and lease heartbeats go to its node's chunk_steps topic"),
    Param("streaming", True, "hand each chunk step to the controller as soon as it is decoded "
          "(false: decode the whole chunk first, then execute it)"),
    Param("lease_heartbeat_s", 0.1, "period of the lease heartbeat sent for the running chunk, "
          "s; keep it well below the controller's lease_timeout_s", in_range(0.01, 5.0)),
    Param("chunk_timeout_s", 120.0, "longest wait for one chunk's execution, s", positive),
    Param("step_duration_s", 0.2, "nominal duration of a chunk step, written into ActionChunk",
          positive),
    Param("base_frame", "wx250s/base_link", "frame_id of published chunks"),
    Param("dry_run", False, "decide and publish chunks, do not send them to the controller"),
)  # fmt: skip


def policy_config(p: dict) -> PolicyConfig:
    """The runtime's :class:`PolicyConfig` from the node's parameter values."""
    remote = RemoteConfig(
        base_url=p["remote_url"],
        model=p["remote_model"],
        base_model=p["remote_base_model"],
        api_key_env=p["remote_api_key_env"],
        guided_decoding=p["remote_guided_decoding"],
        timeout_s=p["remote_timeout_s"],
        adapter=p["adapter"] if p["backend"] == "remote" else "",
    )
    caps = StageSampling()  # the runtime's token caps per stage; the node sets the sampling
    sampling = StageSampling(
        subtasks=replace(caps.subtasks, temperature=p["temperature_subtasks"], top_p=p["top_p"]),
        plan=replace(caps.plan, temperature=p["temperature_plan"], top_p=p["top_p"]),
        chunk=replace(caps.chunk, temperature=p["temperature_chunk"], top_p=p["top_p"]),
    )
    verifier = VerifierConfig(
        kind=p["verifier"] if p["verifier"] != "none" else "onboard",
        remote=RemoteConfig(base_url=p["verifier_url"], model=p["verifier_model"]),
    )
    return PolicyConfig(
        backend=p["backend"],
        model=ModelConfig(
            model=p["model"],
            adapter=p["adapter"] if p["backend"] == "hf" else "",
            merge_adapter=p["merge_adapter"],
            dtype=p["dtype"],
            device=p["device"],
            quantization=p["quantization"],
            cpu_threads=p["cpu_threads"],
        ),
        remote=remote,
        sampling=sampling,
        verifier=verifier,
        constrained=p["constrained"],
        max_retries=p["max_output_retries"],
        seed=None if p["seed"] < 0 else p["seed"],
    )


def loop_config(p: dict) -> LoopConfig:
    """The episode loop's configuration from the node's parameter values."""
    return LoopConfig(
        max_retries_per_subtask=p["max_retries_per_subtask"],
        image_timeout_s=p["image_timeout_s"],
        image_wait_s=p["image_wait_s"],
        verify=p["verifier"] != "none",
        streaming=p["streaming"],
    )


def steps_topic(controller_action: str) -> str:
    """The controller's ChunkSteps topic: ``chunk_steps`` beside its ExecuteChunk action."""
    namespace, _, _ = controller_action.rpartition("/")
    return f"{namespace}/chunk_steps"
