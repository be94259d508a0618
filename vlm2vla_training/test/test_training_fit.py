"""fit: the paper's config, answer-only labels, LoRA placement, learning, exact resume, AT, full."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from vlm2vla_training.cli import main
from vlm2vla_training.fit import (
    LANGUAGE_MODEL_PROJECTIONS,
    TrainConfig,
    TrainConfigError,
    load_train_config,
    parse_overrides,
    read_train_log,
)
from vlm2vla_training.fit.chat_samples import IGNORE_INDEX, ChatSampleEncoder, RowCollator
from vlm2vla_training.fit.model_setup import (
    load_base_model,
    load_processor,
    make_trainable,
    resolve_precision,
)
from vlm2vla_training.fit.run import answer_loss
from vlm2vla_training.fit.sample_order import SampleOrder


def fit_argv(model_dir, data_dir, out_dir, *extra, steps=5):
    """A short debug run: effective batch 2, dropout on (so resume must restore the RNG)."""
    return [
        "fit",
        "--config",
        "debug",
        "--model",
        str(model_dir),
        "--data",
        str(data_dir),
        "--out",
        str(out_dir),
        "--max-steps",
        str(steps),
        "--set",
        "lora_dropout=0.1",
        "--set",
        "checkpoint_every_steps=2",
        "--set",
        "keep_checkpoints=2",
        "--quiet",
        *extra,
    ]


def adapter_weights(run_dir):
    from safetensors.torch import load_file

    return load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))


def test_paper_config_is_the_default_recipe():
    paper = load_train_config("paper")
    assert paper == TrainConfig()
    assert (paper.lora_r, paper.lora_alpha, paper.learning_rate) == (16, 32, 5e-5)
    assert (paper.adam_beta1, paper.adam_beta2, paper.adam_eps) == (0.9, 0.999, 1e-8)
    assert (paper.effective_batch_size, paper.per_device_batch_size) == (8, 1)
    assert (paper.max_seq_len, paper.epochs, paper.lr_schedule) == (1024, 1, "linear")
    assert paper.lora_target_modules == LANGUAGE_MODEL_PROJECTIONS
    # accumulation fills the effective batch of 8: 8 on one process, 2 on the paper's 4 GPUs
    assert paper.grad_accum_steps(1) == 8 and paper.grad_accum_steps(4) == 2
    with pytest.raises(TrainConfigError, match="not a multiple"):
        paper.grad_accum_steps(3)
    debug = load_train_config("debug", {"learning_rate": 1, "stages": ["chunk", "plan"]})
    assert debug.learning_rate == 1.0 and debug.stages == ("chunk", "plan")
    assert debug.max_steps > 0 and debug.mixed_precision == "no"
    assert load_train_config(None, parse_overrides(["learning_rate=2e-3"])).learning_rate == 2e-3
    with pytest.raises(TrainConfigError, match="learning_rate must be float"):
        load_train_config(None, parse_overrides(["learning_rate=fast"]))
    with pytest.raises(TrainConfigError, match="unknown TrainConfig keys"):
        load_train_config("paper", parse_overrides(["lerning_rate=1e-4"]))
    with pytest.raises(TrainConfigError, match="encoding"):
        load_train_config(None, {"encoding": "binary"})
    with pytest.raises(FileNotFoundError, match="paper"):
        load_train_config("no-such-config")


def test_precision_auto_follows_the_hardware():
    assert resolve_precision("no", torch.device("cpu")) == "no"
    assert resolve_precision("auto", torch.device("cpu")) in ("bf16", "no")


def test_sample_order_is_seeded_complete_and_split_across_processes():
    order = SampleOrder(
        num_samples=37, seed=3, epochs=2, per_device_batch=1, accum_steps=2, num_processes=4
    )
    assert order.samples_per_step == 8 and order.steps_per_epoch == 4 and order.total_steps == 8
    first_epoch = [s for step in range(4) for s in order.step_samples(step)]
    assert len(set(first_epoch)) == 32  # no sample twice in an epoch
    assert order.step_samples(4) != order.step_samples(0)  # each epoch reshuffles
    for step in range(order.total_steps):
        ranks = [order.micro_batches(step, rank) for rank in range(4)]
        assert sorted(s for r in ranks for b in r for s in b) == sorted(order.step_samples(step))
    again = SampleOrder(37, 3, 2, 1, 2, 4)
    assert again.rank_batches(1, 5) == order.rank_batches(1, 0)[5 * 2 :]
    # the same global order whatever the process count (resuming on other hardware continues it)
    one = SampleOrder(37, 3, 2, 1, 8, 1)
    assert [one.step_samples(s) for s in range(8)] == [order.step_samples(s) for s in range(8)]


def test_prompt_tokens_are_the_runtimes_and_labels_only_the_answer(tiny_gemma3_dir, built_dir):
    from datasets import load_from_disk
    from transformers import AutoModelForImageTextToText

    from vlm2vla_policy.runtime import ChatPrompt
    from vlm2vla_policy.runtime.generation import GenerationEngine

    processor = load_processor(str(tiny_gemma3_dir))
    model = AutoModelForImageTextToText.from_pretrained(tiny_gemma3_dir)
    engine = GenerationEngine(model, processor)
    split = load_from_disk(str(built_dir / "dataset"))["train"]
    collator = RowCollator(ChatSampleEncoder(processor, 1024))
    for stage in ("chunk", "verification"):
        row = split[split["stage"].index(stage)]
        sample = collator.encode_row(row)
        messages = [
            {
                "role": m["role"],
                "content": [{k: v for k, v in c.items() if v is not None} for c in m["content"]],
            }
            for m in row["messages"][:-1]
        ]
        images = tuple(image.convert("RGB") for image in row["images"])
        runtime_ids = engine.encode(ChatPrompt(tuple(messages), images)).input_ids[0].tolist()
        prompt_len = len(runtime_ids)
        assert sample.input_ids[:prompt_len] == runtime_ids
        assert sample.labels[:prompt_len] == [IGNORE_INDEX] * prompt_len
        answer_ids = sample.labels[prompt_len:]
        assert processor.tokenizer.decode(answer_ids) == row["answer"] + "<end_of_turn>"
        assert sample.pixel_values.shape[0] == len(row["images"])
    short = RowCollator(ChatSampleEncoder(processor, prompt_len + 3)).encode_row(row)
    assert short.truncated and len(short.input_ids) == prompt_len + 3


def test_lora_adapts_only_the_language_model_projections(tiny_gemma3_dir):
    model = make_trainable(load_base_model(str(tiny_gemma3_dir), torch.float32), TrainConfig())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and ".language_model." in n for n in trainable)
    projections = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable}
    assert projections == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    with pytest.raises(TrainConfigError, match="outside the language model"):
        make_trainable(
            load_base_model(str(tiny_gemma3_dir), torch.float32),
            TrainConfig(lora_target_modules=r".*\.(q_proj|k_proj)"),
        )
    full = make_trainable(
        load_base_model(str(tiny_gemma3_dir), torch.float32), TrainConfig(finetune="full")
    )
    frozen = {n for n, p in full.named_parameters() if not p.requires_grad}
    assert frozen and all("vision_tower" in n or "multi_modal_projector" in n for n in frozen)


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_loss_overfits_a_fixed_batch(tmp_path, built_dir, torch_one_thread, finetune):
    """30 steps on one batch at least halve the answer loss.

    The tiny random model's embeddings (0.02 std, tied to the output layer) are scaled up so that
    a frozen output layer can express confident predictions, as a real checkpoint's can.
    """
    from datasets import load_from_disk

    from vlm2vla_policy.testing.tiny_gemma3 import build_tiny_gemma3

    model, processor = build_tiny_gemma3()
    with torch.no_grad():
        model.model.language_model.embed_tokens.weight.mul_(6.0)
    model.save_pretrained(tmp_path / "tiny")
    processor.save_pretrained(tmp_path / "tiny")
    split = load_from_disk(str(built_dir / "dataset"))["train"]
    rows = [split[split["stage"].index("chunk")]]
    batch = RowCollator(ChatSampleEncoder(processor, 1024))(rows)
    batch.pop("truncated")
    torch.manual_seed(0)
    config = TrainConfig(finetune=finetune, lora_r=8, lora_alpha=16, lora_dropout=0.0)
    model = make_trainable(load_base_model(str(tmp_path / "tiny"), torch.float32), config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    losses = []
    for _ in range(30):
        loss = answer_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, tiny_gemma3_dir, built_dir):
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    assert main(fit_argv(tiny_gemma3_dir, built_dir, whole)) == 0
    # crash after step 3: the newest checkpoint is step 2, so step 3 is trained again
    assert main(fit_argv(tiny_gemma3_dir, built_dir, crashed, "--stop-after-steps", "3")) == 0
    assert not (crashed / "adapter").exists()
    assert [r["step"] for r in read_train_log(crashed)] == [1, 2, 3]
    assert main(fit_argv(tiny_gemma3_dir, built_dir, crashed)) == 0
    whole_log, crashed_log = read_train_log(whole), read_train_log(crashed)
    assert [r["step"] for r in crashed_log] == [1, 2, 3, 4, 5]
    assert [r["samples"] for r in crashed_log] == [r["samples"] for r in whole_log]
    assert [r["loss"] for r in crashed_log] == pytest.approx([r["loss"] for r in whole_log])
    expected, resumed = adapter_weights(whole), adapter_weights(crashed)
    assert expected.keys() == resumed.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6)
    metrics = json.loads((crashed / "metrics.json").read_text())
    assert metrics["steps"] == 5 and metrics["samples"] == 10 and metrics["completed"]
    assert metrics["grad_accum_steps"] == 2 and metrics["num_processes"] == 1
    # what inference needs travels with the adapter
    record = json.loads((crashed / "adapter" / "vlm2vla_adapter.json").read_text())
    assert record["format_version"] >= 1 and record["training"]["train_config"]["lora_r"] == 4
    assert list((crashed / "tensorboard").glob("events.out.tfevents.*"))
    assert list((crashed / "checkpoints").iterdir())  # checkpoints carry config + metadata
    checkpoint = sorted((crashed / "checkpoints").iterdir())[-1]
    assert {"config.json", "checkpoint.json"} <= {p.name for p in checkpoint.iterdir()}
    # a finished run is not trained again; other settings in the same directory are refused
    assert main(fit_argv(tiny_gemma3_dir, built_dir, crashed)) == 0
    assert len(read_train_log(crashed)) == 5
    argv = fit_argv(tiny_gemma3_dir, built_dir, crashed, "--set", "learning_rate=0.5")
    assert main(argv) == 2


def test_at_encoding_and_full_finetuning_load_into_the_runtime(
    tmp_path, tiny_gemma3_dir, built_dir, camera_image
):
    from vlm2vla_policy.runtime import (
        AT_TABLE_FILE,
        ModelConfig,
        PolicyConfig,
        SamplingConfig,
        StageSampling,
        make_policy,
    )

    at_run, full_run = tmp_path / "at", tmp_path / "full"
    assert main(fit_argv(tiny_gemma3_dir, built_dir, at_run, "--encoding", "at")) == 0
    assert (at_run / "adapter" / AT_TABLE_FILE).is_file()
    # bf16 here, fp32 in the other runs: each in-process fit chooses its own precision
    argv = fit_argv(
        tiny_gemma3_dir, built_dir, full_run, "--full-finetune", "--set", "mixed_precision=bf16"
    )
    assert main(argv) == 0
    assert (full_run / "model" / "config.json").is_file()
    assert json.loads((full_run / "metrics.json").read_text())["mixed_precision"] == "bf16"
    # eval finds the whole model and compares its VQA answers with the base model's
    eval_argv = [
        "eval",
        "--run",
        str(full_run),
        "--stages",
        "direction",
        "--max-samples-per-stage",
        "1",
        "--vqa-image-questions",
        "0",
        "--quiet",
    ]
    assert main(eval_argv) == 0
    vqa = json.loads((full_run / "eval" / "metrics.json").read_text())["vqa"]
    assert vqa["questions"] == 6 and "without_adapter" in vqa
    sampling = StageSampling(chunk=SamplingConfig(temperature=0.5, max_new_tokens=600))
    for model, adapter in ((tiny_gemma3_dir, at_run / "adapter"), (full_run / "model", "")):
        policy = make_policy(
            PolicyConfig(
                model=ModelConfig(model=str(model), adapter=str(adapter), device="cpu"),
                sampling=sampling,
                seed=0,
            )
        )
        result = policy.chunk(camera_image, "grasp the cup", "move down", instruction="pick cup")
        assert result.value and all(len(step) == 4 for step in result.value)
    assert policy.language.chunk.encoding == "text"  # the full model: default format


@pytest.mark.slow
def test_fit_killed_by_sigkill_resumes_to_the_same_adapter(tmp_path, tiny_gemma3_dir, built_dir):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    argv = fit_argv(tiny_gemma3_dir, built_dir, killed, steps=12)
    code = f"import sys; from vlm2vla_training.cli import main; sys.exit(main({argv!r}))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 120
    while not list((killed / "checkpoints").glob("step_*/checkpoint.json")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "adapter").exists()
    assert main(argv) == 0
    assert main(fit_argv(tiny_gemma3_dir, built_dir, whole, steps=12)) == 0
    killed_log, whole_log = read_train_log(killed), read_train_log(whole)
    assert [r["step"] for r in killed_log] == list(range(1, 13))
    assert [r["samples"] for r in killed_log] == [r["samples"] for r in whole_log]
    expected, resumed = adapter_weights(whole), adapter_weights(killed)
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_processes_train_and_resume_exactly(tmp_path, tiny_gemma3_dir, built_dir):
    """DDP over gloo on the CPU (torchrun, 2 processes): resume equals an uninterrupted run."""

    def run(out, *extra):
        argv = fit_argv(
            tiny_gemma3_dir,
            built_dir,
            out,
            "--set",
            "cpu=true",
            "--set",
            "effective_batch_size=4",
            *extra,
            steps=4,
        )
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "-m",
            "vlm2vla_training.cli",
            *argv,
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(command, env=env, check=True, timeout=300)

    run(tmp_path / "whole")
    run(tmp_path / "crashed", "--stop-after-steps", "3")
    run(tmp_path / "crashed")
    config = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert config["resolved"]["num_processes"] == 2 and config["resolved"]["grad_accum_steps"] == 2
    whole, crashed = read_train_log(tmp_path / "whole"), read_train_log(tmp_path / "crashed")
    assert [r["samples"] for r in crashed] == [r["samples"] for r in whole]
    assert all(len(r["samples"]) == 4 for r in whole)
    expected, resumed = adapter_weights(tmp_path / "whole"), adapter_weights(tmp_path / "crashed")
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6)
