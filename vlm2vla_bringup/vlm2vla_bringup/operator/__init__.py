"""The operator's ``vlm2vla`` command: instructions, stops and status of a running graph."""
