"""The paper's 12 VQA retention benchmarks: their names in VLMEvalKit and lmms-eval, metric, scale.

The paper (arXiv 2509.22195) reports, per benchmark, the base model's score and VLM2VLA's on
VLMEvalKit's set. Each :class:`Benchmark` says what VLMEvalKit calls it (dataset name and
``vlmeval/dataset`` class, for its ``--config`` JSON), what lmms-eval calls it (task name) and
what the score is. Scores are percent, except MME (perception + cognition, summed: 0-2800) and
OCRBench (correct answers of 1000: 0-1000). Kept free of heavy imports: the command line reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TOOLS = ("vlmevalkit", "lmms-eval")  # the toolkits that run them (evaluation.external)


@dataclass(frozen=True)
class Benchmark:
    """One VQA benchmark: its names in the paper and in both toolkits, its metric and scale."""

    title: str  # the paper's name: "MMBench-en"
    vlmevalkit: str  # VLMEvalKit dataset name: "MMBench_DEV_EN"
    vlmevalkit_class: str  # the VLMEvalKit dataset class that loads it (vlmeval/dataset)
    lmms_eval: str  # lmms-eval task name: "mmbench_en_dev"
    metric: str  # what the score measures: "accuracy", "ANLS", ...
    scale: float = 100.0  # the best possible score: 100 for percent, else the score's maximum

    @property
    def unit(self) -> str:
        """The score's range in words: "%" or "0-2800"."""
        return "%" if self.scale == 100.0 else f"0-{self.scale:g}"


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("MMMU", "MMMU_DEV_VAL", "MMMUDataset", "mmmu_val", "accuracy"),
    Benchmark("MMStar", "MMStar", "ImageMCQDataset", "mmstar", "accuracy"),
    Benchmark("MME", "MME", "ImageYORNDataset", "mme", "perception + cognition", scale=2800.0),
    Benchmark("OCRBench", "OCRBench", "OCRBench", "ocrbench", "score", scale=1000.0),
    Benchmark("MMBench-en", "MMBench_DEV_EN", "ImageMCQDataset", "mmbench_en_dev", "accuracy"),
    Benchmark("MMBench-cn", "MMBench_DEV_CN", "ImageMCQDataset", "mmbench_cn_dev", "accuracy"),
    Benchmark("TextVQA", "TextVQA_VAL", "ImageVQADataset", "textvqa_val", "VQA accuracy"),
    Benchmark("DocVQA", "DocVQA_VAL", "ImageVQADataset", "docvqa_val", "ANLS"),
    Benchmark("InfoVQA", "InfoVQA_VAL", "ImageVQADataset", "infovqa_val", "ANLS"),
    Benchmark("AI2D", "AI2D_TEST", "ImageMCQDataset", "ai2d", "accuracy"),
    Benchmark("ChartQA", "ChartQA_TEST", "ImageVQADataset", "chartqa", "relaxed accuracy"),
    Benchmark("RealWorldQA", "RealWorldQA", "ImageMCQDataset", "realworldqa", "accuracy"),
)
"""The paper's benchmarks, in the order of its retention table."""

PAPER_BENCHMARKS: tuple[str, ...] = tuple(b.vlmevalkit for b in BENCHMARKS)
"""VLMEvalKit names of the paper's 12 benchmarks (the names this project uses)."""

_BY_NAME: dict[str, Benchmark] = {
    name: b for b in BENCHMARKS for name in (b.vlmevalkit, b.lmms_eval, b.title)
}


def find_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` in VLMEvalKit, lmms-eval or the paper; ValueError if none."""
    found = _BY_NAME.get(name)
    if found is None:
        raise ValueError(
            f"unknown benchmark {name!r}: known are the paper's {', '.join(PAPER_BENCHMARKS)} "
            "(or their lmms-eval task names or the paper's titles)"
        )
    return found


def unknown_benchmarks(names: Sequence[str]) -> str | None:
    """Check of a setting: every name is one :func:`find_benchmark` knows (None), else why not."""
    unknown = [name for name in names if name not in _BY_NAME]
    return f"has unknown benchmarks {unknown}; known: {list(PAPER_BENCHMARKS)}" if unknown else None
