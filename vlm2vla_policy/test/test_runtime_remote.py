"""The remote backend against a real ``vlm2vla-serve`` process serving a tiny Gemma-3 + LoRA."""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request

import pytest

from vlm2vla_policy.language import MotionPlan, Stage, Verdict, grammar_for
from vlm2vla_policy.runtime import (
    ModelConfig,
    PolicyConfig,
    RemoteBackendError,
    RemoteConfig,
    RuntimeConfigError,
    load_model,
    make_policy,
)
from vlm2vla_policy.runtime.backends.hf import HFBackend
from vlm2vla_policy.runtime.images import encode_data_url
from vlm2vla_policy.serving.chat_server import ChatServer, ServeConfig
from vlm2vla_policy.testing.serve_process import serving

INSTRUCTION = "put the lid on the pot"
TOKEN_ENV = "VLM2VLA_TEST_API_KEY"


@pytest.fixture(scope="module")
def server(tiny_gemma3_dir, tiny_lora_dir):
    """``vlm2vla-serve`` on a free loopback port with a bearer token; yields (url, token)."""
    token = secrets.token_hex(16)
    arguments = [
        "--model", str(tiny_gemma3_dir), "--adapter", str(tiny_lora_dir), "--port", "0",
        "--seed", "0", "--api-key-env", TOKEN_ENV, "--max-request-bytes", "2000000",
    ]  # fmt: skip
    with serving(arguments, {TOKEN_ENV: token}) as url:
        yield url, token


def _request(url: str, token: str | None = None, body: bytes | None = None, **headers: str):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def remote_policy(server, tiny_lora_dir):
    url, token = server
    os.environ[TOKEN_ENV] = token
    remote = RemoteConfig(
        base_url=url, model="vlm2vla", base_model="base", api_key_env=TOKEN_ENV,
        adapter=str(tiny_lora_dir),
    )  # fmt: skip
    yield make_policy(PolicyConfig(backend="remote", remote=remote))
    os.environ.pop(TOKEN_ENV, None)


def test_policy_round_trip_over_the_server(remote_policy, camera_image):
    subtasks = remote_policy.subtasks(camera_image, INSTRUCTION)
    assert subtasks.value and subtasks.constrained
    plan = remote_policy.plan(camera_image, subtasks.value[0], instruction=INSTRUCTION)
    assert isinstance(plan.value, MotionPlan)
    chunk = remote_policy.chunk(
        camera_image, subtasks.value[0], plan.value, instruction=INSTRUCTION
    )
    assert chunk.value
    verdict = remote_policy.verify(camera_image, 255 - camera_image, subtasks.value[0])
    assert isinstance(verdict.value, Verdict)
    for result in (subtasks, plan, chunk, verdict):
        assert grammar_for(Stage(result.stage)).accepts(result.raw_text)
        assert result.timing.prefill_tokens > 0 and result.timing.decoded_tokens > 0
        assert result.timing.prefill_s > 0 and result.timing.overhead_s >= 0
    assert chunk.timing.reused_tokens > 0  # the server's prefix cache served the plan's prefix


def test_remote_verification_is_the_same_model_as_in_process(
    remote_policy, tiny_gemma3_dir, tiny_lora_dir, camera_image
):
    model = ModelConfig(model=str(tiny_gemma3_dir), adapter=str(tiny_lora_dir))
    local = make_policy(PolicyConfig(model=model, seed=0))
    args = (camera_image, 255 - camera_image, "grasp the lid", "lift the lid")
    assert remote_policy.verify(*args).raw_text == local.verify(*args).raw_text  # greedy


def test_health_models_and_authentication(server, camera_image):
    url, token = server
    root = url.removesuffix("/v1")
    assert _request(root + "/health") == (200, {"status": "ok", "waiting": 0, "running": 0})
    status, reply = _request(url + "/models")
    assert status == 401 and reply["error"]["type"] == "authentication_error"
    status, reply = _request(url + "/models", token)
    assert status == 200 and [m["id"] for m in reply["data"]] == ["vlm2vla", "base"]
    with pytest.raises(RemoteBackendError, match="HTTP 401"):
        make_policy(
            PolicyConfig(backend="remote", remote=RemoteConfig(base_url=url, api_key_env=""))
        ).plan(camera_image, "grasp the lid", instruction=INSTRUCTION)


def test_bad_requests_are_refused_with_reasons(server, camera_image):
    url, token = server
    chat = url + "/chat/completions"
    image = {"type": "image_url", "image_url": {"url": encode_data_url(camera_image)}}
    message = {"role": "user", "content": [image, {"type": "text", "text": "hi"}]}

    def post(**body):
        return _request(chat, token, json.dumps({"messages": [message], **body}).encode())

    status, reply = post(structured_outputs={"regex": "[a-z]+"})
    assert status == 400 and "stage grammars" in reply["error"]["message"]
    assert post(model="gpt-4")[0] == 404
    status, reply = post(stream="yes")
    assert status == 400 and "'stream' must be true or false" in reply["error"]["message"]
    status, reply = post(stream_options={"include_usage": True})
    assert status == 400 and "needs 'stream': true" in reply["error"]["message"]
    status, reply = post(stream=True, model="gpt-4")
    assert status == 404  # a streamed request is checked like any other before it starts
    assert _request(chat, token, b"{not json")[0] == 400
    assert _request(chat, token, b"{}", **{"Content-Type": "text/plain"})[0] == 415
    big = json.dumps({"messages": [message], "pad": "x" * 2_100_000}).encode()
    assert _request(chat, token, big)[0] == 413
    remote_url = {"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}
    bad_image = {"role": "user", "content": [remote_url]}
    status, reply = _request(chat, token, json.dumps({"messages": [bad_image]}).encode())
    assert status == 400 and "not fetched" in reply["error"]["message"]
    status, reply = post(max_tokens=4, temperature=0)
    assert status == 200 and reply["usage"]["completion_tokens"] <= 4


def test_unreachable_server_is_a_clear_error(camera_image):
    config = RemoteConfig(base_url="http://127.0.0.1:9/v1", timeout_s=2)
    policy = make_policy(PolicyConfig(backend="remote", remote=config))
    with pytest.raises(RemoteBackendError, match="is the server running"):
        policy.plan(camera_image, "grasp the lid", instruction=INSTRUCTION)


def test_binding_beyond_loopback_needs_a_token(tiny_gemma3_dir, monkeypatch):
    monkeypatch.delenv("VLM2VLA_API_KEY", raising=False)
    backend = HFBackend(load_model(ModelConfig(model=str(tiny_gemma3_dir))))
    with pytest.raises(RuntimeConfigError, match="bearer token"):
        ChatServer(backend, ServeConfig(host="0.0.0.0", port=0))
