"""dialoggen: synthetic multi-turn chat datasets from a local vLLM model."""

__version__ = "0.1.0"
