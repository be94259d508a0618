"""Serving the policy's model over HTTP: the OpenAI-compatible ``vlm2vla-serve``.

Apart from the models (as openpi keeps serving apart): ``chat_server`` (the HTTP server over an
in-process backend), ``cli`` (the ``vlm2vla-serve`` command).
"""
