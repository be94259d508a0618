"""ROS-independent VLM2VLA training: data readers, relabeling, samples, LoRA SFT, evaluation."""
