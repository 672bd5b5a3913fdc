"""agentrun: design fine-tuning datasets like a processor, and prove them by training."""

__version__ = "0.1.0"
