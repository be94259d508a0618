"""The remote backend: an OpenAI-compatible chat-completions server (vLLM, ``vlm2vla-serve``).

Images travel as base64 data URLs. A request with a grammar carries its regular expression as the
server's guided-decoding parameter (:attr:`RemoteConfig.guided_decoding`); a server that honours
it constrains the answer, one that does not is covered by the policy's bounded retry. Requests
that must run without the LoRA adapter (on-board verification) name :attr:`RemoteConfig.base_model`
(vLLM serves the base model under its own name beside each adapter).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from vlm2vla_policy.runtime.backends.base import Completion, GenerationRequest
from vlm2vla_policy.runtime.chat import to_openai_messages
from vlm2vla_policy.runtime.config import RemoteConfig
from vlm2vla_policy.runtime.errors import RemoteBackendError, RuntimeConfigError
from vlm2vla_policy.runtime.timing import Timing

TIMING_FIELD = "vlm2vla_timing"
"""Response field where ``vlm2vla-serve`` reports its prefill/decode split (milliseconds)."""


class RemoteBackend:
    """Answers prompts by POSTing them to ``{base_url}/chat/completions``."""

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config

    def complete(self, request: GenerationRequest) -> Completion:
        """Send ``request``; raise :class:`RemoteBackendError` when the server fails."""
        model = self.config.model
        if not request.use_adapter:
            if not self.config.base_model:
                raise RuntimeConfigError(
                    "the base model without the adapter was asked for over the remote backend, "
                    "but RemoteConfig.base_model is empty; set it to the name the server lists "
                    "for the base model (GET /v1/models), or use verifier kind 'remote'"
                )
            model = self.config.base_model
        body: dict[str, Any] = {
            "model": model,
            "messages": to_openai_messages(request.prompt, self.config.image_format),
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "max_tokens": request.sampling.max_new_tokens,
        }
        guided = request.grammar is not None and self.config.guided_decoding != "none"
        if guided and self.config.guided_decoding == "structured_outputs":
            body["structured_outputs"] = {"regex": request.grammar.regex}
        elif guided:
            body["guided_regex"] = request.grammar.regex
        start = time.perf_counter()
        reply = self._post("/chat/completions", body)
        wall_s = time.perf_counter() - start
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
            usage = reply.get("usage") or {}
        except (KeyError, IndexError, TypeError):
            raise RemoteBackendError(
                f"{self.config.base_url} answered without choices[0].message.content; is it an "
                "OpenAI-compatible chat-completions server?"
            ) from None
        return Completion(
            text=text,
            timing=_timing(usage, reply.get(TIMING_FIELD), wall_s),
            constrained=guided,
            finished=choice.get("finish_reason") != "length",
        )

    def models(self) -> list[str]:
        """Model names the server lists at ``/models``."""
        reply = self._get("/models")
        return [str(entry.get("id")) for entry in reply.get("data", [])]

    def reset(self) -> None:
        """Nothing to forget: the server keeps its own caches."""

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        token = os.environ.get(self.config.api_key_env, "") if self.config.api_key_env else ""
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self._url(path), data, self._headers())  # noqa: S310
        return self._send(request)

    def _get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(self._url(path), headers=self._headers())  # noqa: S310
        return self._send(request)

    def _url(self, path: str) -> str:
        # RemoteConfig admits only http:// and https:// base URLs (no file: or custom schemes).
        return self.config.base_url.rstrip("/") + path

    def _send(self, request: urllib.request.Request) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:  # noqa: S310
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            hint = " (set the token in $" + self.config.api_key_env + ")" if exc.code == 401 else ""
            raise RemoteBackendError(
                f"{request.full_url} answered HTTP {exc.code}{hint}: {detail}"
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise RemoteBackendError(
                f"cannot reach {request.full_url} ({exc}); is the server running, and is "
                "remote.base_url right?"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RemoteBackendError(f"{request.full_url} did not answer with JSON") from None


def _timing(usage: dict[str, Any], reported: Any, wall_s: float) -> Timing:
    """Token counts from ``usage``; prefill/decode split from the server when it reports one."""
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    if isinstance(reported, dict):
        prefill_s = float(reported.get("prefill_ms", 0.0)) / 1000.0
        decode_s = float(reported.get("decode_ms", 0.0)) / 1000.0
        return Timing(
            prefill_tokens=int(reported.get("prefill_tokens", prompt_tokens)),
            reused_tokens=int(reported.get("reused_tokens", 0)),
            decoded_tokens=completion_tokens,
            prefill_s=prefill_s,
            decode_s=decode_s,
            overhead_s=max(0.0, wall_s - prefill_s - decode_s),
        )
    return Timing(prefill_tokens=prompt_tokens, decoded_tokens=completion_tokens, overhead_s=wall_s)
