"""Experiments on the VLM2VLA policy: the applications that sit on top of the whole stack.

``demo`` and ``vision_pretrain`` (the offline demo), ``evaluation``, ``eval_cli`` and ``compare``
(closed-loop success in the MuJoCo simulator, paired by seed), ``recorder`` and ``record_cli``
(expert demonstrations as Bridge raw directories or MCAP bags), ``paper`` (the paper's
small-scale experiments: chunk likelihood and forgetting).
"""
