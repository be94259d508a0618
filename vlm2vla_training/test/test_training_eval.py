"""eval: the whole pipeline through the CLI, metric definitions, VQA retention, benchmark hook."""

import json

import pytest
import torch

from vlm2vla_policy.language import (
    ActionStep,
    GripperAction,
    MotionPlan,
    MovementDirection,
    PlanConfig,
    Verdict,
    parse_plan,
)
from vlm2vla_training import synthetic
from vlm2vla_training.cli import main
from vlm2vla_training.evaluation import (
    builtin_questions,
    external_benchmark_command,
    vqa_retention,
)
from vlm2vla_training.evaluation.action_metrics import (
    chunk_metrics,
    direction_metrics,
    plan_metrics,
    subtask_metrics,
    verdict_metrics,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_convert_relabel_build_fit_eval_through_the_cli(tmp_path, tiny_gemma3_dir, camera_image):
    from vlm2vla_policy.runtime import (
        ModelConfig,
        PolicyConfig,
        SamplingConfig,
        StageSampling,
        make_policy,
    )

    synthetic.write_bridge_raw(
        tmp_path / "bridge", 4, seed=11, config=synthetic.SyntheticConfig(num_steps=12)
    )
    store, data, run, out = (str(tmp_path / n) for n in ("store", "data", "run", "eval"))
    for argv in (
        [
            "convert",
            "--reader",
            "bridge_raw",
            "--input",
            str(tmp_path / "bridge"),
            "--store",
            store,
        ],
        ["relabel", "--store", store],
        ["build", "--store", store, "--out", data, "--eval-fraction", "0.25"],
        [
            "fit",
            "--config",
            "debug",
            "--model",
            str(tiny_gemma3_dir),
            "--data",
            data,
            "--out",
            run,
            "--max-steps",
            "4",
        ],
        [
            "eval",
            "--run",
            run,
            "--out",
            out,
            "--max-samples-per-stage",
            "2",
            "--max-new-tokens",
            "600",
            "--vqa-image-questions",
            "3",
        ],
    ):
        assert main([*argv, "--quiet"]) == 0, argv

    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    stages = metrics["stages"]
    assert set(stages) == {"subtasks", "plan", "chunk", "verification", "direction"}
    chunk = stages["chunk"]
    assert chunk["parse_rate"] == 1.0  # constrained decoding with room for the longest chunk
    assert set(chunk["l1_cm"]) == {"x", "y", "z"} and chunk["gripper_accuracy"] is not None
    assert 0.0 <= chunk["direction_agreement"]["all"] <= 1.0
    assert stages["subtasks"]["keyword_accuracy"] is not None
    assert metrics["vqa"]["questions"] == 3 + 6 and "retention" in metrics["vqa"]
    for name in ("trajectory.png", "training_curve.png"):
        assert (tmp_path / "eval" / name).read_bytes().startswith(PNG_MAGIC)
    lines = (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == metrics["samples"]

    # the adapter the CLI trained drives the runtime policy
    policy = make_policy(
        PolicyConfig(
            model=ModelConfig(model=str(tiny_gemma3_dir), adapter=f"{run}/adapter", device="cpu"),
            sampling=StageSampling(chunk=SamplingConfig(temperature=0.5, max_new_tokens=600)),
            seed=1,
        )
    )
    plan = policy.plan(camera_image, "grasp the cup", instruction="put the cup on the plate")
    chunk_result = policy.chunk(
        camera_image, "grasp the cup", plan.value, instruction="put the cup on the plate"
    )
    assert chunk_result.value and all(isinstance(s, ActionStep) for s in chunk_result.value)


def steps(*rows):
    return [ActionStep(dx / 100, dy / 100, dz / 100, g) for dx, dy, dz, g in rows]


def test_chunk_metrics_agreement_l1_and_gripper():
    truth = steps((2, 0, -3, 1), (2, 0, -3, 0))  # forward 4 cm, down 6 cm, then close
    perfect = chunk_metrics([(truth, truth)], dead_zone_m=0.01)
    assert perfect["parse_rate"] == 1.0 and perfect["direction_agreement"]["all"] == 1.0
    assert perfect["direction_agreement"]["y"] is None  # y did not move: not counted
    assert perfect["l1_cm"] == {"x": 0.0, "y": 0.0, "z": 0.0} and perfect["gripper_accuracy"] == 1.0
    wrong = steps((-1, 1, -3, 1))
    mixed = chunk_metrics([(wrong, truth), (None, truth)], dead_zone_m=0.01)
    assert mixed["parse_rate"] == 0.5
    assert mixed["direction_agreement"]["x"] == 0.0 and mixed["direction_agreement"]["z"] == 0.5
    assert mixed["l1_cm"]["x"] == pytest.approx(5.0) and mixed["l1_cm"]["z"] == pytest.approx(3.0)
    assert mixed["gripper_accuracy"] == 1.0 and mixed["length_error_steps"] == 1.0


def test_plan_subtask_and_choice_metrics():
    config = PlanConfig()
    truth = parse_plan("move forward and down and close the gripper")
    chunk = steps((2, 0, -3, 1), (2, 0, -3, 0))
    agreed = plan_metrics([(truth, truth, chunk)], config)
    assert agreed["match"] == 1.0 and agreed["chunk_agreement"] == 1.0
    other = MotionPlan(moves=truth.moves[:1], gripper=GripperAction.CLOSE)
    partial = plan_metrics([(other, truth, chunk), (None, truth, None)], config)
    assert partial["direction_agreement"]["x"] == 0.5 and partial["direction_agreement"]["z"] == 0.0
    assert partial["match"] == 0.0 and partial["chunk_agreement"] == 0.0
    subtasks = subtask_metrics(
        [(["grasp the red cup", "lift it"], ["grasp the cup", "place the cup on the plate"])]
    )
    assert subtasks["keyword_accuracy"] == 0.5 and subtasks["count_accuracy"] == 1.0
    verdicts = [(Verdict(True), Verdict(True)), (None, Verdict(False))]
    assert verdict_metrics(verdicts)["accuracy"] == 0.5
    left, right = MovementDirection.LEFT, MovementDirection.RIGHT
    assert direction_metrics([(left, left), (left, right)])["accuracy"] == 0.5


def test_vqa_retention_compares_with_and_without_the_adapter(tiny_gemma3_dir, tiny_lora_dir):
    from vlm2vla_policy.runtime import ModelConfig, load_model

    questions = builtin_questions(image_questions=3, seed=0)
    assert [q.qid for q in questions] == [q.qid for q in builtin_questions(3, seed=0)]
    assert sum(q.image is None for q in questions) == 6
    loaded = load_model(
        ModelConfig(model=str(tiny_gemma3_dir), adapter=str(tiny_lora_dir), device="cpu")
    )
    result = vqa_retention(loaded.model, loaded.processor, questions)
    assert result["questions"] == 9
    with_adapter, without = result["with_adapter"], result["without_adapter"]
    assert with_adapter["mean_logprob_correct"] != without["mean_logprob_correct"]
    if without["accuracy"]:
        assert result["retention"] == pytest.approx(
            with_adapter["accuracy"] / without["accuracy"], abs=1e-3
        )


def test_merged_export_and_benchmark_commands(tmp_path, tiny_gemma3_dir, tiny_lora_dir, capsys):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    out = tmp_path / "vqa"
    argv = ["vqa-benchmarks", "--model", str(tiny_gemma3_dir), "--adapter", str(tiny_lora_dir)]
    assert main([*argv, "--out", str(out), "--merge"]) == 0
    merged_dir = out / "merged"
    merged = AutoModelForImageTextToText.from_pretrained(merged_dir)
    base = AutoModelForImageTextToText.from_pretrained(tiny_gemma3_dir)
    adapted = PeftModel.from_pretrained(base, tiny_lora_dir)
    ids = torch.tensor([[2, 5, 40, 41, 42, 43]])
    with torch.no_grad():
        torch.testing.assert_close(
            merged(input_ids=ids).logits, adapted(input_ids=ids).logits, rtol=1e-4, atol=1e-4
        )
    script = (out / "commands.sh").read_text()
    assert "--merge" not in script and str(merged_dir.resolve()) in script  # merged already
    assert "python run.py --config" in capsys.readouterr().out
    config = json.loads((out / "vlmevalkit" / "adapter_config.json").read_text())
    assert config["model"]["adapter"] == {"class": "Gemma3", "model_path": str(merged_dir)}
    assert config["data"]["MMMU_DEV_VAL"]["class"] == "MMMUDataset" and len(config["data"]) == 12
    command = external_benchmark_command("lmms-eval", merged_dir, tmp_path / "lmms", ["MME"])
    assert command[command.index("--tasks") + 1] == "mme"
    with pytest.raises(ValueError, match="unknown benchmark 'SomeBench'"):
        external_benchmark_command("lmms-eval", merged_dir, tmp_path, benchmarks=["SomeBench"])
