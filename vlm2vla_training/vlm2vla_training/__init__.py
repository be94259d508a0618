"""vlm2vla_training: data readers, relabeling, sample building and the ``vlm2vla-train`` CLI.

No ROS: every module here runs in a plain Python environment. The data flow is
reader -> :class:`~vlm2vla_training.episode.Episode` -> episode store -> segments (relabel) ->
samples for each stage (built with :mod:`vlm2vla_policy.language`) -> Hugging Face dataset ->
LoRA fine-tuning (:mod:`vlm2vla_training.fit`) -> evaluation (:mod:`vlm2vla_training.evaluation`).
"""
