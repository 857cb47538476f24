"""Word features for the routing classifier: tf-idf of a message's words and
word pairs over the bot's own sentences, beside its embedding.

A sentence embedding blurs the rare words that name a business's things (a
"P60", an "MOT", a "courtesy car"); the words themselves keep them. Each word,
and each pair of adjacent words, of the sentences the classifier is trained on
is a feature, weighted by its inverse document frequency over those sentences
(scikit-learn's smoothed idf, sublinear term frequency), and a message's word
vector is scaled to the length `ROUTE_WORDS_WEIGHT` (zoozl.config) so that it
weighs against the unit-length embedding by that ratio. Words the bot never
saw are left out. How the weight was chosen, and what it gained on bots nobody
had read: eval/routing/README.md (issue 20).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

#: What a word is: a run of lowercase letters and digits (texts are normalised).
WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The words of a text, lowercased, in order, then its pairs of adjacent
    words."""
    found: list[str] = WORD.findall(text.lower())
    return [*found, *(f"{a} {b}" for a, b in pairwise(found))]


class WordFeatures:
    """The word vector of a text, over the vocabulary of given sentences."""

    def __init__(self, sentences: Sequence[str], weight: float) -> None:
        """Vocabulary and inverse document frequencies of the sentences; each
        vector has length `weight` (0 for a text with no known word)."""
        counts = Counter(word for text in sentences for word in set(words(text)))
        vocabulary = sorted(counts)
        self.index = {word: i for i, word in enumerate(vocabulary)}
        n = len(sentences)
        self.idf = np.array(
            [math.log((1 + n) / (1 + counts[w])) + 1.0 for w in vocabulary]
        )
        self.weight = weight

    def __len__(self) -> int:
        return len(self.index)

    def __call__(self, text: str) -> np.ndarray:
        """The word vector of one text."""
        vector = np.zeros(len(self.index))
        for word, count in Counter(words(text)).items():
            i = self.index.get(word)
            if i is not None:
                vector[i] = (1.0 + math.log(count)) * self.idf[i]
        norm = float(np.linalg.norm(vector))
        if norm > 0.0:
            vector *= self.weight / norm
        return vector

    def matrix(self, texts: Sequence[str]) -> np.ndarray:
        """The word vectors of several texts, one row each."""
        if not texts:
            return np.zeros((0, len(self.index)))
        return np.vstack([self(text) for text in texts])
