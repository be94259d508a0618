"""What ``vlm2vla-train vqa-benchmarks`` exports (kept light: the command line reads it).

:class:`VqaBenchmarksConfig`'s fields are :func:`~vlm2vla_policy.settings.setting` s; the
subcommand's options are derived from them. :mod:`vlm2vla_training.commands.vqa_benchmarks` runs
it with :mod:`vlm2vla_training.evaluation.external` and ``retention_table``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlm2vla_policy.runtime.config import ModelConfig
from vlm2vla_policy.settings import like, nonempty, setting, validate
from vlm2vla_training.vqa_benchmarks import PAPER_BENCHMARKS, TOOLS, unknown_benchmarks


@dataclass(frozen=True)
class VqaBenchmarksConfig:
    """The VQA retention runs: which model and adapter, which toolkits and benchmarks."""

    model: str = like(ModelConfig, "model", "base model (what the base runs evaluate)")
    adapter: str = setting("", "LoRA adapter directory of `vlm2vla-train fit`")
    out: str = setting(
        "",
        "directory for the toolkits' configs and results, the merged checkpoint (merged/), "
        "commands.sh, results.json and retention.md",
    )
    tools: tuple[str, ...] = setting(
        TOOLS, "toolkits to write commands for", choices=TOOLS, check=nonempty
    )
    benchmarks: tuple[str, ...] = setting(
        PAPER_BENCHMARKS,
        "benchmarks, named as in VLMEvalKit, lmms-eval or the paper (default: the paper's 12)",
        check=lambda names: nonempty(names) or unknown_benchmarks(names),
    )
    merge: bool = setting(
        False,
        "merge the adapter into the base weights now (writes <out>/merged; needs the model "
        "locally); otherwise the printed commands start with this command plus --merge",
    )
    results: str = setting(
        "",
        "results JSON (base and adapter scores per benchmark, as out/results.json lays them "
        "out) that fills the table; empty = the table's template",
    )

    def __post_init__(self) -> None:
        validate(self)
