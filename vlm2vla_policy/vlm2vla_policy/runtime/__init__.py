"""vlm2vla_policy.runtime."""
