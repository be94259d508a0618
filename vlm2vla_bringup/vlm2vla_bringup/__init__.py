"""VLM2VLA bringup: launch files, parameter YAML, a process runner and MCAP bag tools."""
