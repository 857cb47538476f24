"""Build the embedder a config names (`embedder`): the one place that knows them all."""

from __future__ import annotations

from pathlib import Path

from zoozl.config import EMBEDDER_NAMES, default_model_cache_dir, is_model_path
from zoozl.embedding.base import CharEmbedder, Embedder

#: The names of the packaged MiniLM's ONNX files, by variant.
ONNX_NAMES = {
    "minilm-fp32": "fp32",
    "minilm-int8": "int8",
    "minilm-mixed": "mixed",
    "minilm-rows": "rows",
}


def make_embedder(name: str, cache_dir: Path | None = None) -> Embedder:
    """Build the embedder a config names; nothing heavy loads until first encode.

    "minilm" is the serving embedder: ONNX fp32 MiniLM (its file in cache_dir,
    by default the user's cache) with "rows" int8 MiniLM as the router's draft
    (zoozl.embedding.drafted, zoozl.embedding.rows; eval/routing/sets/
    ROWS_RULE.md); "minilm-fp32" fp32 alone; "minilm-int8" int8
    alone (faster, but it failed the accuracy rule of INT8_RULE.md);
    "minilm-mixed" int8 but for the feed-forward outputs (INT8_MIXED_RULE.md);
    "minilm-rows" int8 scaled per token, batch-invariant (zoozl.embedding.rows);
    "minilm-torch" the sentence-transformers reference; "char" a character
    counter for fast tests. Any other name is the path of a local
    sentence-transformers folder, served in fp32 like "minilm-fp32"
    (ModelFolderError when it is not one).
    """
    if name == "char":
        return CharEmbedder()
    if name == "minilm":
        from zoozl.embedding.drafted import Drafted

        full = make_embedder("minilm-fp32", cache_dir)
        return Drafted(full, make_embedder("minilm-rows", cache_dir))
    if name in ONNX_NAMES:
        from zoozl.embedding.onnx import OnnxMiniLMEmbedder

        variant = ONNX_NAMES[name]
        return OnnxMiniLMEmbedder(cache_dir or default_model_cache_dir(), variant)
    if name == "minilm-torch":
        from zoozl.embedding.torch import MiniLMEmbedder

        return MiniLMEmbedder()
    if is_model_path(name):
        from zoozl.embedding.onnx import OnnxMiniLMEmbedder

        cache = cache_dir or default_model_cache_dir()
        return OnnxMiniLMEmbedder(cache, source=Path(name).expanduser())
    known = ", ".join(sorted(EMBEDDER_NAMES))
    raise ValueError(
        f"unknown embedder {name!r}; choose one of: {known}, or a model folder"
    )
