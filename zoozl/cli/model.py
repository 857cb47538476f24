"""`python -m zoozl model export`: MiniLM (or the config's local model folder) to
ONNX once, into the model cache.

The serving embedder runs this command in a child process on first start, so a
serving process never imports torch (zoozl/embedding/onnx.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from zoozl.config import Config
from zoozl.embedding.export import export_model


def run(
    config: Config, cache_dir: str | None, variant: str, source: str | None = None
) -> int:
    """Export once and print where the file is."""
    target = Path(cache_dir) if cache_dir else config.model_cache_path
    folder = Path(source).expanduser() if source else config.model_folder
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.perf_counter()
    path = export_model(target, variant, folder)
    print(f"exported {path} in {time.perf_counter() - started:.1f} s")
    return 0
