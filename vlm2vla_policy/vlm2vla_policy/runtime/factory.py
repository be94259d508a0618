"""Building a :class:`~vlm2vla_policy.runtime.policy.Policy` from its configuration."""

from __future__ import annotations

from vlm2vla_policy.language import LanguageConfig, Stage, grammar_for
from vlm2vla_policy.runtime.adapter_metadata import read_adapter_metadata
from vlm2vla_policy.runtime.backends.base import Backend
from vlm2vla_policy.runtime.backends.remote import RemoteBackend
from vlm2vla_policy.runtime.config import PolicyConfig
from vlm2vla_policy.runtime.policy import Policy
from vlm2vla_policy.runtime.stage_runner import StageRunner
from vlm2vla_policy.runtime.verifier import Verifier

POLICY_STAGES: tuple[Stage, ...] = (Stage.SUBTASKS, Stage.PLAN, Stage.CHUNK, Stage.VERIFICATION)
"""The stages a policy asks: its grammars are prepared when the model is loaded."""


def make_policy(config: PolicyConfig) -> Policy:
    """Load what ``config`` names and return a ready policy.

    Backend "hf" loads the model and adapter in this process (the adapter's metadata gives the
    text format); "remote" talks to ``config.remote`` (the text format from
    ``config.remote.adapter``'s metadata when given, else the default). The verifier is the
    policy's backend without the adapter ("onboard"), with it ("adapter"), or
    ``config.verifier.remote``.
    """
    if config.backend == "hf":
        # torch and transformers are needed only here: a robot using a remote server needs neither.
        from vlm2vla_policy.runtime.backends.hf import HFBackend
        from vlm2vla_policy.runtime.loading import load_model

        loaded = load_model(config.model)
        metadata = loaded.adapter
        hf_backend = HFBackend.from_config(loaded, config)
        backend: Backend = hf_backend
    else:
        metadata = read_adapter_metadata(config.remote.adapter) if config.remote.adapter else None
        backend = RemoteBackend(config.remote)
    language = metadata.language if metadata else LanguageConfig()
    at_table = metadata.at_table if metadata else None
    if config.backend == "hf" and config.constrained:
        hf_backend.prepare(grammar_for(stage, language, at_table) for stage in POLICY_STAGES)
    verifier = make_verifier(config, backend, language)
    return Policy(backend, verifier, config, language, at_table)


def make_verifier(
    config: PolicyConfig, backend: Backend, language: LanguageConfig | None = None
) -> Verifier:
    """The verifier ``config.verifier`` asks for, over ``backend`` unless it is "remote"."""
    kind = config.verifier.kind
    runner = StageRunner(
        RemoteBackend(config.verifier.remote) if kind == "remote" else backend,
        language or LanguageConfig(),
        constrained=config.constrained,
        max_retries=config.max_retries,
    )
    return Verifier(runner, config.sampling.verify, use_adapter=kind != "onboard")
