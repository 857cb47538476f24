"""zoozl: a chatbot server whose skills are plugins routed by sentence embeddings."""

__version__ = "1.0.0.dev0"
