"""Tells requests to the bot from statements about the world: a small linear probe.

"math was always my worst subject" mentions the calculator's topic and sits close
to its alias "do math", yet asks for nothing. Sentence embeddings also carry the
kind of utterance (request, question, greeting, or statement), so a logistic
regression on them, trained when the router is built on the chatter and the
requests of `zoozl.chatter` (same everyday topics on both sides, so what it learns
is the kind of utterance, not the topic), gives the probability that a message is
addressed to the bot.

Fitted here in numpy rather than with scikit-learn's LogisticRegression: importing
scikit-learn (and scipy) costs a serving process 87 MB and 1.0 to 1.4 s, against
its 250 MB / 2 s start-up budget, for 20 lines of code.
"""

from __future__ import annotations

import numpy as np

# Ridge strength, steps and step size of the full-batch gradient descent; chosen by
# 5-fold cross-validation on the sentences above (0.93 accuracy at 0.1).
L2 = 0.1
STEPS = 2000
STEP_SIZE = 0.5


class RequestProbe:
    """P(addressed to the bot) of an embedded message, trained on given vectors."""

    def __init__(self, statements: np.ndarray, requests: np.ndarray) -> None:
        """Fit a logistic regression: statements are 0, requests 1.

        Each class weighs half the loss whatever its size (scikit-learn's
        class_weight="balanced"): plugins' examples join the requests, and
        unweighted they would move the probe's prior, so the gate would mean
        something else with examples than with aliases only.
        """
        x = np.vstack([statements, requests]).astype(np.float64)
        y = np.r_[np.zeros(len(statements)), np.ones(len(requests))]
        weight = len(y) / (2 * np.where(y == 1, len(requests), len(statements)))
        self.weights = np.zeros(x.shape[1])
        self.bias = 0.0
        for _ in range(STEPS):
            error = weight * (_sigmoid(x @ self.weights + self.bias) - y)
            self.weights -= STEP_SIZE * (x.T @ error + L2 * self.weights) / len(y)
            self.bias -= STEP_SIZE * float(error.mean())

    def probability(self, vector: np.ndarray) -> float:
        """Probability that the message of this embedding asks the bot something."""
        return float(
            _sigmoid(np.asarray(vector, dtype=np.float64) @ self.weights + self.bias)
        )


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64))))
