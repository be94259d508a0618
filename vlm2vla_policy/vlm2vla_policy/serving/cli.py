"""``vlm2vla-serve``: serve a Gemma-3 (+ vlm2vla LoRA) model over an OpenAI-compatible API.

    VLM2VLA_API_KEY=... vlm2vla-serve --model google/gemma-3-12b-it --adapter runs/adapter

See :mod:`vlm2vla_policy.serving.chat_server` for the endpoints and the safety rules (loopback by
default, bearer token required elsewhere, JSON only, size limits, batched generation).
"""

from __future__ import annotations

import argparse
import logging
import sys

from vlm2vla_policy.cli_options import OptionError, Options, flag_message
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.config import PolicyConfig
from vlm2vla_policy.runtime.errors import PolicyRuntimeError
from vlm2vla_policy.runtime.loading import load_model
from vlm2vla_policy.serving.chat_server import ChatServer, ServeConfig, logger

READY_MESSAGE = "vlm2vla-serve listening on"
"""Start of the log line written once the server accepts connections (followed by the URL)."""

MODEL_OPTIONS = Options(
    PolicyConfig,
    (*(f"model.{name}" for name in ("model", "adapter", "merge_adapter", "dtype", "device",
                                    "quantization", "allow_download", "cpu_threads")),
     "seed", "prefix_reuse", "prefix_capacity", "jump_forward"),
    required=("model.model",),
)  # fmt: skip
"""The model, its loading and its sampler: :class:`PolicyConfig`'s settings (backend hf)."""

SERVE_OPTIONS = Options(
    ServeConfig,
    ("host", "port", "served_model_name", "base_model_name", "api_key_env", "max_request_bytes",
     "max_tokens_limit", "max_batch", "batch_window_s", "max_pending", "max_connections",
     "request_timeout_s", "socket_timeout_s"),
)  # fmt: skip
"""How the server listens and what it accepts: :class:`ServeConfig`'s settings."""


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``vlm2vla-serve``."""
    parser = argparse.ArgumentParser(
        prog="vlm2vla-serve",
        description="OpenAI-compatible chat server over a Gemma-3 (+ vlm2vla LoRA) model.",
    )
    MODEL_OPTIONS.add_to(parser.add_argument_group("model"))
    SERVE_OPTIONS.add_to(parser.add_argument_group("server"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vlm2vla-serve``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        policy = MODEL_OPTIONS.apply(args)
        config = SERVE_OPTIONS.apply(args)
    except (OptionError, PolicyRuntimeError) as exc:
        parser.error(flag_message(exc, MODEL_OPTIONS, SERVE_OPTIONS))
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        loaded = load_model(policy.model)
        backend = HFBackend.from_config(loaded, policy)
        language = loaded.adapter.language if loaded.adapter else None
        at_table = loaded.adapter.at_table if loaded.adapter else None
        server = ChatServer(backend, config, language, at_table)
    except (PolicyRuntimeError, OSError) as exc:  # the model, the adapter, the port: one line
        message = flag_message(exc, MODEL_OPTIONS, SERVE_OPTIONS)
        print(f"vlm2vla-serve: error: {message}", file=sys.stderr)
        return 2
    logger.info("%s %s (models: %s)", READY_MESSAGE, server.url, ", ".join(server.model_names()))
    try:
        server.serve_forever()  # until SIGINT or SIGTERM
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
