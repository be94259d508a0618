"""The metadata file every vlm2vla LoRA adapter directory carries: ``vlm2vla_adapter.json``.

Training writes it with :func:`write_adapter_metadata` beside peft's ``adapter_config.json``; the
runtime reads it with :func:`read_adapter_metadata` and refuses an adapter whose text format this
library does not speak. Schema (JSON object)::

    {
      "format_version": 1,              # vlm2vla_policy.language.FORMAT_VERSION at training time
      "language": {...},                # LanguageConfig.to_dict() used to build the targets
      "base_model": "google/gemma-3-12b-it",
      "created_utc": "2025-01-01T00:00:00+00:00",
      "training": {...}                 # free-form: training config, metrics, data summary
    }

An adapter trained with the AT chunk encoding (``language.chunk.encoding == "at"``) also carries
its digit-token table as ``at_table.json`` (:meth:`vlm2vla_policy.language.AtTable.save`).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlm2vla_policy.language import (
    FORMAT_VERSION,
    AtTable,
    LanguageConfig,
    LanguageFormatError,
    check_format_version,
)
from vlm2vla_policy.runtime.errors import AdapterMetadataError

ADAPTER_METADATA_FILE: str = "vlm2vla_adapter.json"
"""Name of the metadata file inside an adapter directory."""

AT_TABLE_FILE: str = "at_table.json"
"""Name of the AT digit-token table inside an adapter directory (AT encoding only)."""


@dataclass(frozen=True)
class AdapterMetadata:
    """What an adapter directory records about how it was trained."""

    # Text format version the adapter was trained with (checked against the language module).
    format_version: int
    # The text format configuration the training targets were written with.
    language: LanguageConfig
    # Base model id or directory the adapter was trained on.
    base_model: str
    # Creation time, ISO 8601 in UTC.
    created_utc: str
    # Free-form training record (config, metrics, data summary).
    training: dict[str, Any] = field(default_factory=dict)
    # Digit-token table of the AT chunk encoding; None for the text encoding.
    at_table: AtTable | None = None


def write_adapter_metadata(
    adapter_dir: str | Path,
    *,
    base_model: str,
    language: LanguageConfig | None = None,
    training: dict[str, Any] | None = None,
    at_table: AtTable | None = None,
) -> Path:
    """Write ``vlm2vla_adapter.json`` into ``adapter_dir`` (created if missing); return its path.

    ``language`` is the format configuration the training targets were written with (default
    :class:`LanguageConfig`); ``training`` must be JSON-serialisable; ``at_table`` is required
    for (and only saved with) the AT chunk encoding.
    """
    language = language or LanguageConfig()
    if language.chunk.encoding == "at" and at_table is None:
        raise AdapterMetadataError(
            "the language config uses the AT chunk encoding; pass its at_table so inference can "
            "read the digits"
        )
    record = {
        "format_version": FORMAT_VERSION,
        "language": language.to_dict(),
        "base_model": base_model,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "training": training or {},
    }
    directory = Path(adapter_dir)
    directory.mkdir(parents=True, exist_ok=True)
    if language.chunk.encoding == "at":
        at_table.save(directory / AT_TABLE_FILE)
    path = directory / ADAPTER_METADATA_FILE
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_adapter_metadata(adapter_dir: str | Path) -> AdapterMetadata:
    """Read and check ``adapter_dir``'s metadata; raise :class:`AdapterMetadataError` if unusable.

    The error names the file and says what to do: a missing file (an adapter not written by
    vlm2vla training), malformed JSON, or a format version this library does not speak.
    """
    path = Path(adapter_dir) / ADAPTER_METADATA_FILE
    if not path.is_file():
        raise AdapterMetadataError(
            f"{path} is missing, so the adapter's text format is unknown; train the adapter with "
            "vlm2vla_training, or record its format with "
            "vlm2vla_policy.runtime.write_adapter_metadata(adapter_dir, base_model=...)"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterMetadataError(f"{path} is not readable JSON ({exc}); rewrite it") from None
    if not isinstance(record, dict) or "format_version" not in record:
        raise AdapterMetadataError(
            f"{path} has no 'format_version'; rewrite it with write_adapter_metadata"
        )
    try:
        version = check_format_version(record["format_version"])
        language = LanguageConfig.from_dict(record.get("language", {}))
        at_table = None
        if language.chunk.encoding == "at":
            at_table = AtTable.load(Path(adapter_dir) / AT_TABLE_FILE)
    except LanguageFormatError as exc:
        raise AdapterMetadataError(f"adapter {adapter_dir}: {exc}") from exc
    return AdapterMetadata(
        format_version=version,
        language=language,
        base_model=str(record.get("base_model", "")),
        created_utc=str(record.get("created_utc", "")),
        training=dict(record.get("training") or {}),
        at_table=at_table,
    )
