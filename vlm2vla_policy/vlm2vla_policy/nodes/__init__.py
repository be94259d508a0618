"""vlm2vla_policy.nodes."""
