"""Small-scale experiments around the paper's claims, runnable on a CPU in minutes.

* :mod:`~vlm2vla_experiments.paper.likelihood`: how likely the pretrained Gemma-3-270M finds
  action chunks written as language versus the VLM2VLA-AT encoding (least-likely tokens);
* :mod:`~vlm2vla_experiments.paper.forgetting`: how much general text ability survives
  fine-tuning on a text-only version of the chunk task, for LoRA versus full fine-tuning and
  language versus AT targets.

Both draw their chunks from :mod:`~vlm2vla_experiments.paper.textonly` (synthetic Bridge-like
episodes, the camera image replaced by a textual scene description) and write every string with
:mod:`vlm2vla_policy.language`. Other modules: ``lm`` (loading the text-only Gemma-3-270M from
its GGUF file, scoring answers token by token), ``stats`` (paired bootstrap intervals),
``general_text`` and ``probes`` (the general-ability probes), ``docs`` (generated blocks of
``docs/experiments.md``). ``vlm2vla-experiment likelihood|forgetting`` runs them;
``--write-docs`` puts the generated tables into ``docs/experiments.md``.
"""
