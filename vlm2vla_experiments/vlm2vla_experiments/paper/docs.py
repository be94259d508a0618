"""Writing generated results into ``docs/experiments.md`` (``--write-docs``).

The document holds hand-written prose and generated blocks. A generated block sits between
``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` and is replaced as a whole
each time its experiment runs with ``--write-docs``; nothing else in the file is touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

DOC_PATH = Path("docs") / "experiments.md"
"""Where the experiments are documented, relative to the repository root."""

FIGURES_DIR = Path("docs") / "figures"
"""Where their figures go, relative to the repository root."""

MAX_FIGURE_BYTES = 200_000
"""Figures are committed: each must stay below this size."""


def fmt(value: float | None, digits: int = 2) -> str:
    """A table cell: ``value`` with ``digits`` decimals, "n/a" for None."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_axes(values: dict[str, float | None]) -> str:
    """Per-axis values (keys x, y, z) as "x / y / z" with one decimal, e.g. an L1 error in cm."""
    return " / ".join(fmt(values[axis], 1) for axis in ("x", "y", "z"))


def markers(name: str) -> tuple[str, str]:
    """The begin and end lines of the generated block ``name``."""
    return f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"


def replace_block(document: str, name: str, content: str) -> str:
    """``document`` with the block ``name`` holding ``content``; ValueError without its markers."""
    begin, end = markers(name)
    start, stop = document.find(begin), document.find(end)
    if start < 0 or stop < start:
        raise ValueError(
            f"the document has no generated block {name!r}; add the lines {begin!r} and "
            f"{end!r} where it belongs"
        )
    return document[: start + len(begin)] + "\n" + content.strip() + "\n" + document[stop:]


def write_block(doc_path: Path, name: str, content: str) -> None:
    """Replace the block ``name`` of the file ``doc_path`` by ``content``."""
    if not doc_path.is_file():
        raise FileNotFoundError(f"{doc_path} does not exist; run from the repository root")
    doc_path.write_text(replace_block(doc_path.read_text(encoding="utf-8"), name, content))


def publish_figure(figure: Path, doc_path: Path, name: str) -> Path:
    """Copy ``figure`` to ``figures/<name>`` beside ``doc_path``; return its path relative to it.

    Raises ValueError for a figure of :data:`MAX_FIGURE_BYTES` or more.
    """
    size = figure.stat().st_size
    if size >= MAX_FIGURE_BYTES:
        raise ValueError(f"{figure} has {size} bytes; figures must stay below {MAX_FIGURE_BYTES}")
    target = doc_path.parent / "figures" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(figure, target)
    return target.relative_to(doc_path.parent)


def publish_tables(
    out: Path, name: str, tables: str, doc_path: Path | None, command: str
) -> list[str]:
    """Write ``tables`` to ``out/<name>.md`` and, with ``doc_path``, into its block ``name``.

    Returns the summary lines an experiment command prints (the tables, where the results are).
    """
    (out / f"{name}.md").write_text(tables + "\n")
    lines = [tables, "", f"results: {out / f'{name}.json'}"]
    if doc_path:
        write_block(doc_path, name, f"Command: `{command}`\n\n{tables}")
        lines.append(f"docs: {doc_path} (block '{name}')")
    return lines
