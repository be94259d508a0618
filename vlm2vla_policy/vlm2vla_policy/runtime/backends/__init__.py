"""Generation backends: in-process Hugging Face model (``hf``) or an OpenAI-compatible server."""
