"""Small helpers to write MJCF with ElementTree: numbers and vectors as attribute text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

Number = float | int


def fmt(value: Number | str | Iterable[Number]) -> str:
    """Attribute text: strings as they are, numbers with 6 significant digits, vectors spaced."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return f"{float(value):.6g}"
    return " ".join(f"{float(v):.6g}" for v in value)


def sub(parent: ET.Element, tag: str, **attrs: Number | str | Iterable[Number]) -> ET.Element:
    """Append ``<tag .../>`` to ``parent``; ``class_`` writes the ``class`` attribute."""
    text = {key.rstrip("_"): fmt(value) for key, value in attrs.items()}
    return ET.SubElement(parent, tag, text)
