"""Built once, loaded after: the token table and converted checkpoints in the disk cache."""

from __future__ import annotations

import pytest

from vlm2vla_policy.decoding import TokenTable
from vlm2vla_policy.runtime import ModelConfig, disk_cache, load_model
from vlm2vla_policy.testing.tiny_gemma3 import build_byte_tokenizer, save_tiny_gemma3


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(disk_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_token_table_is_read_from_the_cache_the_second_time(cache, monkeypatch):
    tokenizer = build_byte_tokenizer()
    first = disk_cache.cached_token_table(tokenizer)
    assert len(list((cache / "token_tables").glob("*.json"))) == 1

    def rebuild(*_args, **_kwargs):
        raise AssertionError("the table was built again instead of read from the cache")

    monkeypatch.setattr(TokenTable, "from_tokenizer", rebuild)
    second = disk_cache.cached_token_table(tokenizer)
    assert second.strings == first.strings and second.eos_token_ids == first.eos_token_ids


def test_another_tokenizer_gets_its_own_table(cache):
    tokenizer = build_byte_tokenizer()
    disk_cache.cached_token_table(tokenizer)
    tokenizer.add_tokens(["<robot>"])
    table = disk_cache.cached_token_table(tokenizer)
    assert "<robot>" in table.strings
    assert len(list((cache / "token_tables").glob("*.json"))) == 2


def test_a_converted_checkpoint_is_built_once_and_loads(cache, torch_one_thread):
    builds = []

    def build(directory):
        builds.append(directory)
        save_tiny_gemma3(directory)

    first = disk_cache.cached_directory("tiny", ["tiny", 1], build)
    second = disk_cache.cached_directory("tiny", ["tiny", 1], build)
    assert first == second and len(builds) == 1
    assert load_model(ModelConfig(model=str(second))).model is not None
    assert disk_cache.cached_directory("tiny", ["tiny", 2], build) != first and len(builds) == 2


def test_an_interrupted_build_leaves_no_entry(cache):
    def fail(directory):
        (directory / "config.json").write_text("{}")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        disk_cache.cached_directory("tiny", ["x"], fail)
    assert not [p for p in (cache / "tiny").iterdir() if not p.name.startswith(".building")]
    assert not list((cache / "tiny").iterdir())
