"""``vlm2vla-serve``: serve a Gemma-3 (+ vlm2vla LoRA) model over an OpenAI-compatible API.

    VLM2VLA_API_KEY=... vlm2vla-serve --model google/gemma-3-12b-it --adapter runs/adapter

See :mod:`vlm2vla_policy.serving.chat_server` for the endpoints and the safety rules (loopback by
default, bearer token required elsewhere, JSON only, size limits, generation off the accept loop).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.config import DTYPES, QUANTIZATIONS, ModelConfig
from vlm2vla_policy.runtime.errors import PolicyRuntimeError
from vlm2vla_policy.runtime.loading import load_model
from vlm2vla_policy.serving.chat_server import ChatServer, ServeConfig, logger

READY_MESSAGE = "vlm2vla-serve listening on"
"""Start of the log line written once the server accepts connections (followed by the URL)."""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = ServeConfig()
    parser = argparse.ArgumentParser(
        prog="vlm2vla-serve",
        description="OpenAI-compatible chat server over a Gemma-3 (+ vlm2vla LoRA) model.",
    )
    parser.add_argument("--model", required=True, help="Hugging Face id or local directory")
    parser.add_argument("--adapter", default="", help="LoRA adapter directory (vlm2vla training)")
    parser.add_argument("--merge-adapter", action="store_true", help="merge the LoRA weights")
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    parser.add_argument("--device", default="auto", help="cuda, cuda:N, cpu or auto")
    parser.add_argument("--quantization", default="none", choices=QUANTIZATIONS)
    parser.add_argument("--allow-download", action="store_true", help="allow hub downloads")
    parser.add_argument("--host", default=defaults.host, help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=defaults.port, help="0 picks a free port")
    parser.add_argument("--served-model-name", default=defaults.served_model_name)
    parser.add_argument("--base-model-name", default=defaults.base_model_name)
    parser.add_argument(
        "--api-key-env", default=defaults.api_key_env, help="env variable with the bearer token"
    )
    parser.add_argument("--max-request-bytes", type=int, default=defaults.max_request_bytes)
    parser.add_argument("--max-tokens-limit", type=int, default=defaults.max_tokens_limit)
    parser.add_argument("--max-pending", type=int, default=defaults.max_pending)
    parser.add_argument("--request-timeout-s", type=float, default=defaults.request_timeout_s)
    parser.add_argument("--seed", type=int, default=None, help="sampler seed")
    parser.add_argument("--no-prefix-reuse", action="store_true", help="disable the prefix cache")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vlm2vla-serve``; returns the exit status."""
    args = _parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    config = ServeConfig(
        host=args.host,
        port=args.port,
        served_model_name=args.served_model_name,
        base_model_name=args.base_model_name,
        api_key_env=args.api_key_env,
        max_request_bytes=args.max_request_bytes,
        max_tokens_limit=args.max_tokens_limit,
        max_pending=args.max_pending,
        request_timeout_s=args.request_timeout_s,
    )
    try:
        loaded = load_model(
            ModelConfig(
                model=args.model,
                adapter=args.adapter,
                merge_adapter=args.merge_adapter,
                dtype=args.dtype,
                device=args.device,
                quantization=args.quantization,
                allow_download=args.allow_download,
            )
        )
        backend = HFBackend(loaded, prefix_reuse=not args.no_prefix_reuse, seed=args.seed)
        language = loaded.adapter.language if loaded.adapter else None
        at_table = loaded.adapter.at_table if loaded.adapter else None
        server = ChatServer(backend, config, language, at_table)
    except (PolicyRuntimeError, OSError) as exc:
        logger.error("vlm2vla-serve: %s", exc)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    logger.info("%s %s (models: %s)", READY_MESSAGE, server.url, ", ".join(server.model_names()))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
