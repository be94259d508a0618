"""The adapter metadata file: written by training, checked by the runtime."""

from __future__ import annotations

import json

import pytest

from vlm2vla_policy.language import FORMAT_VERSION, ChunkFormat, LanguageConfig
from vlm2vla_policy.runtime import (
    ADAPTER_METADATA_FILE,
    AdapterMetadataError,
    read_adapter_metadata,
    write_adapter_metadata,
)


def test_round_trip_records_format_and_training(tmp_path):
    language = LanguageConfig(chunk=ChunkFormat(decimals=2))
    path = write_adapter_metadata(
        tmp_path / "adapter",
        base_model="google/gemma-3-12b-it",
        language=language,
        training={"lr": 5e-5},
    )
    assert path.name == ADAPTER_METADATA_FILE
    metadata = read_adapter_metadata(tmp_path / "adapter")
    assert metadata.format_version == FORMAT_VERSION
    assert metadata.language == language
    assert metadata.base_model == "google/gemma-3-12b-it"
    assert metadata.training == {"lr": 5e-5}


def test_other_format_version_is_refused_clearly(tmp_path):
    path = write_adapter_metadata(tmp_path, base_model="m")
    record = json.loads(path.read_text())
    record["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(record))
    with pytest.raises(AdapterMetadataError, match=f"language format {FORMAT_VERSION + 1}"):
        read_adapter_metadata(tmp_path)


def test_missing_or_broken_metadata_says_what_to_do(tmp_path):
    with pytest.raises(AdapterMetadataError, match="write_adapter_metadata"):
        read_adapter_metadata(tmp_path)
    (tmp_path / ADAPTER_METADATA_FILE).write_text("{not json")
    with pytest.raises(AdapterMetadataError, match="not readable JSON"):
        read_adapter_metadata(tmp_path)


def test_at_encoding_needs_its_table(tmp_path):
    language = LanguageConfig(chunk=ChunkFormat(encoding="at"))
    with pytest.raises(AdapterMetadataError, match="at_table"):
        write_adapter_metadata(tmp_path, base_model="m", language=language)
