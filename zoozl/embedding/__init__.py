"""Sentence embedders: the base (base.py), MiniLM on ONNX (onnx.py, serving) and on
torch (torch.py, the reference), the exported model files (files.py, export.py),
the router's sentence vectors kept beside them (kept.py), and the factory that
picks one by name (factory.py)."""
