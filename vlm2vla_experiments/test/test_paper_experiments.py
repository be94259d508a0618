"""Experiments: text-only chunk task, scoring, bootstrap, reproducible likelihood, docs, CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from vlm2vla_experiments.paper import docs
from vlm2vla_experiments.paper.general_text import PARAGRAPHS, general_questions
from vlm2vla_experiments.paper.stats import paired_difference, paired_ratio, ratio
from vlm2vla_experiments.paper.textonly import (
    TextTaskConfig,
    relative_phrase,
    scene_layout,
    synthetic_episodes,
    text_chunk_samples,
    text_only_messages,
)
from vlm2vla_policy.language import AtChunkCodec, TextChunkCodec, decode_chunk


@pytest.fixture(scope="module")
def tiny_text(torch_one_thread):
    from vlm2vla_experiments.paper.lm import tiny_text_model

    return tiny_text_model(seed=0)


# --- the text-only task ---------------------------------------------------------------------


def test_relative_phrase_uses_base_frame_words():
    assert relative_phrase(np.array([0.041, -0.03, -0.129])) == (
        "4.1 cm forward, 3.0 cm right and 12.9 cm down from"
    )
    assert relative_phrase(np.array([0.0, 0.02, 0.0004])) == "2.0 cm left from"
    assert relative_phrase(np.zeros(3)) == "right at"


def test_text_only_messages_replace_the_image_with_the_scene():
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]}]
    result = text_only_messages(messages, "Scene: empty.")
    assert result == [{"role": "user", "content": [{"type": "text", "text": "Scene: empty.\nQ?"}]}]


def test_scene_descriptions_follow_the_episode():
    episode = next(synthetic_episodes(TextTaskConfig(seed=3)))
    layout = scene_layout(episode)
    assert layout.grasp_step < layout.release_step
    samples = text_chunk_samples(TextTaskConfig(seed=3), num_episodes=1)
    assert samples and all(s.episode_id == episode.episode_id for s in samples)
    for sample in samples:
        text = sample.prompt_text
        assert text.startswith("Scene: the gripper is ")
        assert "Instruction: " + episode.instruction in text
        holding = layout.grasp_step < sample.step <= layout.release_step
        assert ("holds" in text.split("\n")[0]) == holding
        # The answer is the language module's canonical text of the chunk.
        assert TextChunkCodec().encode(sample.steps) == sample.answer
        assert all(part["type"] == "text" for m in sample.messages for part in m["content"])


def test_samples_are_reproducible_and_seeded():
    first = text_chunk_samples(TextTaskConfig(seed=1), num_samples=12)
    again = text_chunk_samples(TextTaskConfig(seed=1), num_samples=12)
    other = text_chunk_samples(TextTaskConfig(seed=2), num_samples=12)
    assert len(first) == 12
    assert [(s.prompt_text, s.answer) for s in first] == [(s.prompt_text, s.answer) for s in again]
    assert [s.answer for s in first] != [s.answer for s in other]


def test_general_probes_are_the_documented_size():
    questions = general_questions()
    assert len(PARAGRAPHS) == 50 and len(set(PARAGRAPHS)) == 50
    assert len(questions) == 40 and len({q.qid for q in questions}) == 40
    assert all(len(q.choices) == 4 and q.image is None for q in questions)
    assert sorted({q.answer for q in questions}) == [0, 1, 2, 3]


# --- statistics -----------------------------------------------------------------------------


def test_paired_bootstrap_difference():
    rng = np.random.default_rng(0)
    a = rng.normal(-1.0, 0.3, 200)
    b = a - 2.0 + rng.normal(0.0, 0.1, 200)
    ones = np.ones(200)
    interval = paired_difference((a, ones), (b, ones), np.random.default_rng(1), 500)
    assert interval.estimate == pytest.approx(b.mean() - a.mean())
    assert interval.low < interval.estimate < interval.high
    assert interval.high - interval.low < 0.1  # pairing removes the between-item spread
    same = paired_difference((a, ones), (b, ones), np.random.default_rng(1), 500)
    assert same == interval
    tokens = rng.integers(1, 5, 200).astype(float)
    per_token = paired_difference((a, tokens), (b, tokens), np.random.default_rng(1), 50)
    assert per_token.estimate == pytest.approx(ratio(b, tokens) - ratio(a, tokens))
    with pytest.raises(ValueError):
        paired_difference((a, ones), (b[:3], ones[:3]), rng)


def test_paired_ratio_of_accuracies():
    before = np.array([1, 1, 1, 1, 0, 0, 1, 1])
    after = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    interval = paired_ratio(before, after, np.random.default_rng(0), 500)
    assert interval.estimate == pytest.approx(4 / 6)
    assert interval.low <= interval.estimate <= interval.high <= 1.0
    with pytest.raises(ValueError):
        paired_ratio(np.zeros(3), np.ones(3), np.random.default_rng(0))


# --- scoring and the likelihood experiment ----------------------------------------------------


def test_shared_prompt_scoring_equals_scoring_each_sequence(tiny_text):
    from vlm2vla_experiments.paper.lm import (
        answer_ids,
        render_prompt,
        score_continuations,
        score_sequence,
    )

    sample = text_chunk_samples(TextTaskConfig(), num_samples=1)[0]
    prompt = render_prompt(tiny_text.tokenizer, sample.messages)
    answers = [answer_ids(tiny_text.tokenizer, t) for t in (sample.answer, "[[0.0, 1]]", "x")]
    scores = score_continuations(tiny_text.model, prompt, answers)
    for answer, score in zip(answers, scores, strict=True):
        expected = score_sequence(tiny_text.model, prompt + answer, len(prompt))
        np.testing.assert_allclose(score, expected, atol=1e-4)
        assert score.shape == (len(answer),) and (score < 0).all()


def test_likelihood_is_reproducible_with_a_seed(tiny_text):
    from vlm2vla_experiments.paper.likelihood import LikelihoodConfig, run_likelihood

    config = LikelihoodConfig(num_chunks=6, model="tiny", bootstrap_resamples=200)
    first = run_likelihood(config, tiny_text, progress=False).to_dict()
    again = run_likelihood(config, tiny_text, progress=False).to_dict()
    first.pop("timing_s"), again.pop("timing_s")
    assert first == again
    reseeded = dataclasses.replace(config, seed=1, task=TextTaskConfig(seed=1))
    other = run_likelihood(reseeded, tiny_text, progress=False).to_dict()
    assert other["means"] != first["means"]
    assert first["at_table"]["method"] == "unigram_logprob"
    table = first["at_table"]
    for chunk in first["chunks"]:
        # Same chunk, same number of digits in both encodings.
        assert chunk["language"]["digit_tokens"] == chunk["at"]["digit_tokens"] > 0
    assert set(first["differences_at_minus_language"]) == {
        "per_token",
        "per_digit_token",
        "per_chunk",
    }
    assert len(table["token_ids"]) == 10


def test_at_text_maps_back_to_the_language_text(tiny_text):
    from vlm2vla_experiments.paper.likelihood import at_table_for

    table = at_table_for(tiny_text)
    codec = AtChunkCodec(table)
    for sample in text_chunk_samples(TextTaskConfig(), num_samples=10):
        at = codec.encode(sample.steps)
        assert not any(c.isdigit() for c in at)
        assert table.from_at(at) == sample.answer
        assert codec.decode(at) == decode_chunk(sample.answer)


# --- docs and command line ------------------------------------------------------------------


def test_generated_blocks_replace_only_their_content(tmp_path):
    doc = tmp_path / "experiments.md"
    begin, end = docs.markers("likelihood")
    doc.write_text(f"# Title\nprose\n{begin}\nold\n{end}\nmore prose\n")
    docs.write_block(doc, "likelihood", "new table")
    assert doc.read_text() == f"# Title\nprose\n{begin}\nnew table\n{end}\nmore prose\n"
    with pytest.raises(ValueError, match="no generated block"):
        docs.write_block(doc, "forgetting", "x")
    big = tmp_path / "big.png"
    big.write_bytes(b"0" * docs.MAX_FIGURE_BYTES)
    with pytest.raises(ValueError, match="below"):
        docs.publish_figure(big, doc, "big.png")


def test_cli_likelihood_writes_results_figure_and_docs(tmp_path, torch_one_thread):
    from vlm2vla_experiments.paper.cli import main

    doc = tmp_path / "docs" / "experiments.md"
    doc.parent.mkdir()
    begin, end = docs.markers("likelihood")
    doc.write_text(f"intro\n{begin}\n{end}\n")
    out = tmp_path / "out"
    args = ["likelihood", "--model", "tiny", "--num-chunks", "3", "--out", str(out)]
    assert main([*args, "--write-docs", str(doc), "--quiet"]) == 0
    saved = json.loads((out / "likelihood.json").read_text())
    assert len(saved["chunks"]) == 3 and saved["config"]["model"] == "tiny"
    text = doc.read_text()
    assert "| log p per token" in text and "figures/likelihood.png" in text
    figure = doc.parent / "figures" / "likelihood.png"
    assert 0 < figure.stat().st_size < docs.MAX_FIGURE_BYTES


# --- forgetting -----------------------------------------------------------------------------


def test_decoder_scoring_of_an_image_text_model_equals_its_forward(torch_one_thread):
    import torch

    from vlm2vla_experiments.paper.lm import score_sequence
    from vlm2vla_policy.testing.tiny_gemma3 import build_tiny_gemma3

    model, processor = build_tiny_gemma3()
    ids = [processor.tokenizer.bos_token_id, *processor.tokenizer.encode("A cat sat.")]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
    expected = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    np.testing.assert_allclose(score_sequence(model, ids, 1), expected.numpy(), atol=1e-5)


def test_general_probes_score_text_without_the_chat_template(tiny_text):
    from vlm2vla_experiments.paper.probes import general_scores, question_prompt

    questions = general_questions()[:3]
    assert question_prompt(questions[0]) == "Question: What is the capital of Italy?\nAnswer:"
    scores = general_scores(tiny_text.model, tiny_text.tokenizer, PARAGRAPHS[:2], questions)
    assert scores["perplexity"] > 1.0 and scores["tokens"] > 100
    assert scores["mc_questions"] == 3 and 0.0 <= scores["mc_accuracy"] <= 1.0
    assert set(scores["mc_picks"]) == {q.qid for q in questions}
    assert len(scores["mc_correct"]) == 3 and len(scores["paragraph_tokens"]) == 2
    assert sum(scores["paragraph_tokens"]) == scores["tokens"]
    again = general_scores(tiny_text.model, tiny_text.tokenizer, PARAGRAPHS[:2], questions)
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        k: v for k, v in scores.items() if k != "seconds"
    }


def test_text_dataset_is_what_fit_reads(tmp_path):
    from vlm2vla_experiments.paper.forgetting import (
        ForgettingConfig,
        split_samples,
        write_text_dataset,
    )
    from vlm2vla_training.built_dataset import load_built_data
    from vlm2vla_training.fit.data import stage_rows

    config = ForgettingConfig(train_episodes=2, eval_episodes=1, steps=2, batch_size=2)
    train, held_out = split_samples(config)
    assert not {s.episode_id for s in train} & {s.episode_id for s in held_out}
    data = load_built_data(write_text_dataset(tmp_path / "data", train, held_out))
    assert stage_rows(data.splits["train"], ("chunk",)) == list(range(len(train)))
    row = data.splits["eval"][0]
    assert row["images"] == [] and row["messages"][-1]["content"][0]["text"] == held_out[0].answer
    with pytest.raises(ValueError, match="raise train_episodes"):
        split_samples(dataclasses.replace(config, steps=1000))


def test_forgetting_tables_from_results():
    from vlm2vla_experiments.paper.forgetting import markdown_tables, retention

    tokens = [30, 70]
    base = {
        "perplexity": 20.0,
        "mc_accuracy": 0.5,
        "tokens": 100,
        "mc_questions": 4,
        "paragraph_logprobs": [-30 * np.log(20.0), -70 * np.log(20.0)],
        "paragraph_tokens": tokens,
        "mc_correct": [1, 1, 0, 0],
    }
    after = {
        "perplexity": 25.0,
        "mc_accuracy": 0.25,
        "paragraph_logprobs": [-30 * np.log(25.0), -70 * np.log(25.0)],
        "paragraph_tokens": tokens,
        "mc_correct": [1, 0, 0, 0],
    }
    kept = retention(base, after, np.random.default_rng(0), resamples=200)
    assert kept["perplexity"]["estimate"] == pytest.approx(1.25, abs=1e-4)
    assert kept["perplexity"]["low"] == pytest.approx(1.25, abs=1e-4)  # same ratio everywhere
    assert kept["mc_accuracy"]["estimate"] == 0.5
    assert kept["mc_accuracy"]["low"] <= 0.5 <= kept["mc_accuracy"]["high"]
    run = {
        "learning_rate": 5e-4,
        "general_after": after,
        "retention": kept,
        "fit": {"first_loss": 3.0, "final_loss": 1.0, "trainable_params": 10, "s_per_step": 2.0},
        "task": {
            "parse_rate": 1.0,
            "direction_agreement": 0.75,
            "l1_cm": {"x": 1.0, "y": None, "z": 2.0},
        },
        "seconds": {"total": 60.0},
    }
    results = {
        "config": {
            "model": "tiny",
            "train_episodes": 2,
            "steps": 2,
            "batch_size": 2,
            "warmup_steps": 0,
            "task_eval_chunks": 2,
            "eval_episodes": 1,
            "paragraphs": 0,
        },
        "base": base,
        "runs": {"lora-at": run},
        "data": {"train_samples": 20},
        "seeds": {"episodes": 0, "fit": 0},
        "seconds": {"total": 120.0},
        "environment": {"torch_threads": 2},
    }
    text = markdown_tables(results)
    assert (
        "| lora-at | LoRA r=16 | AT tokens | 5e-04 | 20.00 → 25.00 | 1.250 [1.25, 1.25] |" in text
    )
    assert "1.0 / n/a / 2.0" in text


@pytest.mark.slow
def test_forgetting_smoke_runs_end_to_end(tmp_path, torch_one_thread):
    from vlm2vla_experiments.paper.forgetting import run_forgetting, smoke_config

    config = dataclasses.replace(smoke_config("tiny"), runs=("lora-at", "full-language"))
    results = run_forgetting(config, tmp_path, progress=False)
    assert set(results["runs"]) == {"lora-at", "full-language"}
    for run in results["runs"].values():
        assert run["fit"]["steps"] == 2
        assert run["task"]["samples"] == 2
        assert run["retention"]["perplexity"]["estimate"] > 0
    assert (tmp_path / "forgetting.json").is_file()


# --- plans -----------------------------------------------------------------------------------


def test_both_plan_styles_label_the_same_chunks():
    from vlm2vla_experiments.paper.plans import PlansConfig, style_samples
    from vlm2vla_policy.language import PlanConfig, parse_plan

    config = PlansConfig(train_episodes=2, eval_episodes=1)
    free, vocabulary = (style_samples(config, style)[0] for style in ("free", "vocabulary"))
    assert [s.answer for s in free if s.stage == "chunk"] == [
        s.answer for s in vocabulary if s.stage == "chunk"
    ]
    chunks = [s.steps for s in free if s.stage == "chunk"]
    free_plans = [s.answer for s in free if s.stage == "plan"]
    vocabulary_plans = [s.answer for s in vocabulary if s.stage == "plan"]
    assert len(free_plans) == len(vocabulary_plans) == len(chunks) > 0
    assert any(" cm" in plan for plan in free_plans)  # sizes in words
    for words, canonical in zip(free_plans, vocabulary_plans, strict=True):
        vocab = parse_plan(canonical, PlanConfig(style="vocabulary"))
        assert parse_plan(words).directions == vocab.directions and words != canonical


@pytest.mark.slow
def test_plans_smoke_runs_end_to_end(tmp_path, torch_one_thread):
    from vlm2vla_experiments.paper.plans import markdown_table, run_plans, smoke_config

    results = run_plans(smoke_config("tiny"), tmp_path, progress=False)
    assert set(results["styles"]) == {"free", "vocabulary"}
    for run in results["styles"].values():
        assert run["fit"]["steps"] == 2
        assert run["plan"]["samples"] == run["chunk"]["samples"] == 2
        assert 0.0 <= run["plan"]["direction_agreement"] <= 1.0
    table = markdown_table(results)
    assert table.count("\n| free |") + table.count("\n| vocabulary |") == 2
    assert (tmp_path / "plans.json").is_file()
