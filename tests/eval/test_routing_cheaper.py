"""`python -m eval.routing cheaper`: the static table's fit, the draft's
tallies and scaled distances, and the judged sets it accepts."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import zoozl.routing.router as router_module
from eval.routing.__main__ import main
from eval.routing.cheaper import (
    SCALES,
    Static,
    fit_table,
    judge_static,
    scaled_distances,
)
from zoozl.embedding.base import CharEmbedder


class Words:
    """A tokenizer of whitespace words over a fixed vocabulary, [CLS] 0 and
    [SEP] 1 around them, [UNK] 2: what `token_ids` asks of a tokenizer."""

    unk_token_id = 2

    def __init__(self, vocabulary: list[str]) -> None:
        self.ids = {word: i + 3 for i, word in enumerate(vocabulary)}

    def __call__(self, text: str, truncation: bool = True) -> dict[str, Any]:
        ids = [self.ids.get(word, self.unk_token_id) for word in text.split()]
        return {"input_ids": [0, *ids, 1]}


def test_the_fit_brings_each_texts_mean_towards_its_target() -> None:
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(30)]
    tokenizer = Words(vocabulary)
    truth = rng.normal(size=(33, 8)).astype(np.float32)
    start = rng.normal(size=(33, 8)).astype(np.float32)
    texts = [" ".join(rng.choice(vocabulary, size=4)) for _ in range(4000)]
    # targets a table can give exactly: each text's mean of the true rows
    ids = [[tokenizer.ids[word] for word in text.split()] for text in texts]
    targets = np.stack([truth[row].mean(axis=0) for row in ids])
    unit = targets / np.linalg.norm(targets, axis=1, keepdims=True)
    before = (Static(tokenizer, start).encode(texts) * unit).sum(axis=1)
    fitted = fit_table(tokenizer, start, texts, targets)
    after = (Static(tokenizer, fitted).encode(texts) * unit).sum(axis=1)
    assert before.mean() < 0.5
    assert after.min() > 0.95
    # rows of tokens no text holds ([CLS], [SEP], [UNK]) stay where they were
    assert np.array_equal(fitted[:3], start[:3])


def test_a_static_vector_is_the_unit_mean_of_its_tokens_rows() -> None:
    table = np.eye(5, dtype=np.float32)
    tokenizer = Words(["a", "b"])
    vectors = Static(tokenizer, table).encode(["a b", "a", "zzz"])
    assert np.allclose(vectors[0], [0, 0, 0, 2**-0.5, 2**-0.5])
    assert np.allclose(vectors[1], [0, 0, 0, 1, 0])
    assert np.allclose(vectors[2], [0, 0, 1, 0, 0])  # no known word: [UNK]


def test_scaled_distances_scale_the_first_ones_and_are_put_back() -> None:
    served = (router_module.DRAFT_CLASS_LOGIT, router_module.DRAFT_COSINE)
    with scaled_distances(2.0):
        assert router_module.DRAFT_CLASS_LOGIT == 2.0
        assert router_module.DRAFT_RIVAL_LOGIT == 1.0
        assert router_module.DRAFT_PROBE_LOGIT == 0.5
        assert round(router_module.DRAFT_COSINE, 9) == 0.1
    after = (router_module.DRAFT_CLASS_LOGIT, router_module.DRAFT_COSINE)
    assert after == served


def test_a_draft_that_is_the_full_model_decides_as_it_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same embedder as draft and full model: every line scores what fp32
    scores, and wider distances send on at least as many messages."""
    judge_static(CharEmbedder(), CharEmbedder(), [4])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * (2 + len(SCALES))
    parsed = [
        re.search(
            r"(\d+)/(\d+) \(\s*([+-][\d.]+) points\), sent on to fp32\s+([\d.]+) %",
            line,
        )
        for line in lines
    ]
    assert all(p is not None and p.group(3) == "+0.00" for p in parsed)
    for kind in (lines[: 2 + len(SCALES)], lines[2 + len(SCALES) :]):
        shares = [float(re.findall(r"([\d.]+) %", line)[0]) for line in kind[2:]]
        assert shares == sorted(shares)  # SCALES rise: more sent on
        assert shares[-1] > shares[0]


def test_it_judges_read_sets_only() -> None:
    with pytest.raises(SystemExit):
        main(["cheaper", "--judged", "31", "34"])  # there is no set 34
