"""vqa-benchmarks: the paper's 12 benchmarks, the runs with and without the adapter, the table."""

import itertools
import json

import pytest

from vlm2vla_training.cli import main
from vlm2vla_training.evaluation import load_scores, retention_table
from vlm2vla_training.vqa_benchmarks import BENCHMARKS, PAPER_BENCHMARKS, find_benchmark

TITLES = ["MMMU", "MMStar", "MME", "OCRBench", "MMBench-en", "MMBench-cn", "TextVQA", "DocVQA",
          "InfoVQA", "AI2D", "ChartQA", "RealWorldQA"]  # fmt: skip
VLMEVALKIT = ["MMMU_DEV_VAL", "MMStar", "MME", "OCRBench", "MMBench_DEV_EN", "MMBench_DEV_CN",
              "TextVQA_VAL", "DocVQA_VAL", "InfoVQA_VAL", "AI2D_TEST", "ChartQA_TEST",
              "RealWorldQA"]  # fmt: skip
LMMS_EVAL = ["mmmu_val", "mmstar", "mme", "ocrbench", "mmbench_en_dev", "mmbench_cn_dev",
             "textvqa_val", "docvqa_val", "infovqa_val", "ai2d", "chartqa",
             "realworldqa"]  # fmt: skip


def test_the_papers_12_benchmarks_with_both_toolkits_names():
    assert [b.title for b in BENCHMARKS] == TITLES
    assert list(PAPER_BENCHMARKS) == [b.vlmevalkit for b in BENCHMARKS] == VLMEVALKIT
    assert [b.lmms_eval for b in BENCHMARKS] == LMMS_EVAL
    for bench in BENCHMARKS:
        assert {find_benchmark(n) for n in (bench.title, bench.vlmevalkit, bench.lmms_eval)} == {
            bench
        }
    scales = {b.title: b.scale for b in BENCHMARKS}
    assert scales.pop("MME") == 2800 and scales.pop("OCRBench") == 1000
    assert set(scales.values()) == {100}
    with pytest.raises(ValueError, match="unknown benchmark 'SomeBench'"):
        find_benchmark("SomeBench")


def export(tmp_path, *extra):
    base, adapter = tmp_path / "gemma-base", tmp_path / "lora-adapter"
    base.mkdir(exist_ok=True)
    argv = ["vqa-benchmarks", "--model", str(base), "--adapter", str(adapter)]
    return main([*argv, "--out", str(tmp_path / "vqa"), *extra]), base, adapter


def test_the_adapter_is_named_only_in_the_adapter_runs(tmp_path):
    code, base, adapter = export(tmp_path)
    assert code == 0
    out = tmp_path / "vqa"
    lines = (out / "commands.sh").read_text().splitlines()
    merge = [line for line in lines if line.endswith("--merge")]
    assert len(merge) == 1 and str(adapter) in merge[0]  # the merge comes first, unless done
    runs = {}  # (tool, label) -> command line
    for comment, command in itertools.pairwise(lines):
        if comment.startswith(("# vlmevalkit, ", "# lmms-eval, ")):
            runs[tuple(comment[2:].split(", "))] = command
    labels = ("adapter", "base")
    assert sorted(runs) == [(t, label) for t in ("lmms-eval", "vlmevalkit") for label in labels]
    configs = {label: (out / "vlmevalkit" / f"{label}_config.json").read_text() for label in labels}
    merged = str(out.resolve() / "merged")
    for label in labels:
        text = runs["lmms-eval", label] + configs[label]
        assert ("lora-adapter" in text or merged in text) == (label == "adapter"), label
        assert (str(base) in text) == (label == "base"), label
        assert ",".join(LMMS_EVAL) in runs["lmms-eval", label]
        assert list(json.loads(configs[label])["data"]) == VLMEVALKIT
    assert "$VLMEVALKIT" not in runs["lmms-eval", "base"]
    assert 'cd "${VLMEVALKIT' in runs["vlmevalkit", "base"]


def test_the_table_template_has_a_row_per_benchmark(tmp_path, capsys):
    assert export(tmp_path)[0] == 0
    out = tmp_path / "vqa"
    table = (out / "retention.md").read_text().splitlines()
    assert table[0] == "| Benchmark | Metric | Base | + adapter | Retention |"
    rows = table[2:]
    assert len(rows) == 12 and [row.split(" | ")[0] for row in rows] == [f"| {t}" for t in TITLES]
    assert "| MME | perception + cognition, 0-2800 |  |  |  |" in rows
    assert "| OCRBench | score, 0-1000 |  |  |  |" in rows
    template = json.loads((out / "results.json").read_text())
    assert template == {run: dict.fromkeys(VLMEVALKIT) for run in ("base", "adapter")}
    assert "| MMMU | accuracy, % |" in capsys.readouterr().out


def test_filling_the_table_from_results_on_each_scale(tmp_path, capsys):
    results = tmp_path / "scores.json"
    results.write_text(json.dumps({
        "base": {"mmmu_val": 46.0, "MME": 1500.0, "OCRBench": 800, "DocVQA_VAL": 80.6},
        "adapter": {"MMMU": 42.7, "mme": 1200.0, "ocrbench": 820, "DocVQA_VAL": None},
    }))  # fmt: skip
    scores = load_scores(results)
    assert scores["base"] == {"MMMU_DEV_VAL": 46.0, "MME": 1500.0, "OCRBench": 800.0,
                              "DocVQA_VAL": 80.6}  # fmt: skip
    rows = {row.split(" | ")[0][2:]: row for row in retention_table(scores=scores).splitlines()}
    assert rows["MMMU"] == "| MMMU | accuracy, % | 46.0 | 42.7 | 92.8 % |"
    assert rows["MME"] == "| MME | perception + cognition, 0-2800 | 1500.0 | 1200.0 | 80.0 % |"
    assert rows["OCRBench"] == "| OCRBench | score, 0-1000 | 800.0 | 820.0 | 102.5 % |"
    assert rows["DocVQA"] == "| DocVQA | ANLS, % | 80.6 |  |  |"  # the adapter's is not in yet
    assert export(tmp_path, "--results", str(results))[0] == 0
    assert "| 80.0 % |" in (tmp_path / "vqa" / "retention.md").read_text()
    assert "(from " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("scores", "error"),
    [
        ({"base": {"MME": 2900}}, "MME score 2900 is outside its scale 0-2800"),
        ({"base": {"OCRBench": 1001}}, "outside its scale 0-1000"),
        ({"adapter": {"MMStar": 101.0}}, "MMStar score 101.0 is outside its scale %"),
        ({"base": {"MMStar": "48"}}, "must be a number"),
        ({"base": {"SomeBench": 50.0}}, "unknown benchmark 'SomeBench'"),
        ({"base": {"MMMU": 46.0, "mmmu_val": 46.0}}, "gives MMMU twice"),
        ({"lora": {}}, "expected an object with keys 'base' and 'adapter'"),
    ],
)
def test_bad_results_are_clear_errors(tmp_path, scores, error):
    results = tmp_path / "scores.json"
    results.write_text(json.dumps(scores))
    with pytest.raises(ValueError, match=error):
        load_scores(results)


def test_an_unknown_benchmark_on_the_command_line_is_a_clear_error(tmp_path, capsys):
    assert export(tmp_path, "--benchmarks", "MME", "SomeBench")[0] == 2
    assert "--benchmarks has unknown benchmarks ['SomeBench']" in capsys.readouterr().err
    assert not (tmp_path / "vqa").exists()
