"""The routing classifier: a logistic regression over message vectors, one class
per plugin and one for "no plugin", fitted in numpy when the router is built.

A multinomial logistic regression with L2 regularisation and classes weighted
equally (scikit-learn's `LogisticRegression(C=C, class_weight="balanced")`, the
same objective), fitted by L-BFGS. Its one free parameter besides C is the bias
of the "no plugin" class, which decides how readily a message is routed at all;
it is calibrated on the bot's own sentences by repeated cross-validation: held-out
sentences of a plugin should reach that plugin, held-out near misses (and
sentences labelled for no plugin) should reach none, and the bias that does both
best, weighing them as the share of messages that are for no plugin, wins.

Fitted in numpy rather than with scikit-learn: importing scikit-learn (and scipy)
costs a serving process 87 MB and 1.0 to 1.4 s, against its start-up budget. The
fits are some three thousand products of small matrices, which a multi-threaded
BLAS makes slower, not faster (1.3 to 1.7 s of CPU against 0.3 s for a bot of
twelve plugins here): they run on one BLAS thread.
How C, the null share and the folds were chosen: eval/routing/README.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

#: Candidate biases of the "no plugin" logit, and the temperature of the soft
#: count of held-out sentences that reach their class (see `calibrate`).
BIASES = np.round(np.arange(-4.0, 4.0 + 1e-9, 0.05), 2)
SOFTNESS = 0.25
FOLDS = 5
REPEATS = 5
# L-BFGS: remembered steps, most iterations, and the gradient tolerance (relative
# to the objective) at which a fit stops; the decisions of sets 4 to 9 do not
# change with a tenfold tighter tolerance.
MEMORY = 10
MAX_ITERATIONS = 500
TOLERANCE = 1e-4

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


class Classifier:
    """Plugin or none for a message vector; the last class is "no plugin"."""

    def __init__(
        self,
        vectors: np.ndarray,
        labels: np.ndarray,
        held_none: np.ndarray,
        c: float,
        null_share: float,
    ) -> None:
        """Fit on vectors (rows) with labels 0..k (k: no plugin), then calibrate
        the bias of "no plugin" on held-out sentences; held_none marks the
        no-plugin rows that stand for real messages no plugin should take."""
        x = np.asarray(vectors, dtype=np.float64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = int(self.labels.max()) + 1
        self.c = c
        with threadpool_limits(1, user_api="blas"):
            basis = row_space(x)
            if basis is not None:  # more features than sentences: fit there
                x = x @ basis
            weights, self.intercepts = fit(x, self.labels, self.classes, c)
            start = np.concatenate([weights.ravel(), self.intercepts])
            held_out = out_of_fold(x, self.labels, self.classes, c, start)
        self.weights = weights if basis is None else weights @ basis.T
        self.bias = calibrate(held_out, self.labels, held_none, null_share)
        self.intercepts[-1] += self.bias

    @classmethod
    def restored(
        cls, labels: np.ndarray, c: float, state: dict[str, np.ndarray]
    ) -> Classifier:
        """The classifier a fit on these labels gave before (its `state`),
        without fitting again (zoozl.routing.fitted)."""
        restored = cls.__new__(cls)
        restored.labels = np.asarray(labels, dtype=np.int64)
        restored.classes = int(restored.labels.max()) + 1
        restored.c = c
        restored.weights = state["weights"]
        restored.intercepts = state["intercepts"]
        restored.bias = float(state["bias"])
        return restored

    def state(self) -> dict[str, np.ndarray]:
        """What `restored` needs beside the labels: the fitted numbers."""
        return {
            "weights": self.weights,
            "intercepts": self.intercepts,
            "bias": np.array(self.bias, dtype=np.float64),
        }

    def logits(self, vector: np.ndarray) -> np.ndarray:
        """One score per class (the last: no plugin), bias included."""
        scores: np.ndarray = self.weights @ np.asarray(vector, np.float64)
        scores += self.intercepts
        return scores


def row_space(x: np.ndarray) -> np.ndarray | None:
    """An orthonormal basis (columns) of the space the rows of x span, when it
    has fewer dimensions than x has columns; else None.

    The L2-regularised weights lie in that space (each gradient step is a sum of
    rows of x plus the weights themselves, from zero), and L-BFGS moves the same
    way in any orthonormal basis of it, so fitting the rows' coordinates there
    gives the same weights, expressed in fewer numbers: with the words of
    zoozl.routing.words a bot's classifier has some 2,600 features but only
    some 400 sentences, and its 26 fits cost a sixth as much.
    """
    rows, columns = x.shape
    if columns <= rows:
        return None
    basis, _ = np.linalg.qr(x.T)
    return basis


def fit(
    x: np.ndarray,
    labels: np.ndarray,
    classes: int,
    c: float,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (classes x dimension) and intercepts of the balanced, L2
    regularised multinomial logistic regression (objective: C times the weighted
    log loss plus half the squared weights; intercepts are not regularised)."""
    rows, dimension = x.shape
    counts = np.bincount(labels, minlength=classes)
    weight = rows / (classes * np.maximum(counts[labels], 1))
    onehot = np.zeros((rows, classes))
    onehot[np.arange(rows), labels] = 1.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: classes * dimension].reshape(classes, dimension)
        z = x @ w.T + theta[classes * dimension :]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        total = e.sum(axis=1, keepdims=True)
        loss = -float((weight * (onehot * (z - np.log(total))).sum(axis=1)).sum())
        error = (e / total - onehot) * weight[:, None]
        gradient = np.concatenate([(c * (error.T @ x) + w).ravel(), c * error.sum(0)])
        return c * loss + 0.5 * float((w * w).sum()), gradient

    theta = np.zeros(classes * (dimension + 1)) if start is None else start
    theta = lbfgs(objective, theta)
    return theta[: classes * dimension].reshape(classes, dimension), theta[
        classes * dimension :
    ].copy()


def lbfgs(objective: Objective, theta: np.ndarray) -> np.ndarray:
    """Minimise a smooth convex objective from theta (limited-memory BFGS with a
    backtracking line search)."""
    value, gradient = objective(theta)
    steps: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(MAX_ITERATIONS):
        direction = -_two_loop(gradient, steps)
        slope = float(gradient @ direction)
        if slope >= 0.0:  # not a descent direction: restart from the gradient
            steps.clear()
            direction, slope = -gradient, -float(gradient @ gradient)
        size = 1.0
        while True:
            moved = theta + size * direction
            new_value, new_gradient = objective(moved)
            if new_value <= value + 1e-4 * size * slope or size < 1e-10:
                break
            size /= 2.0
        s, y = moved - theta, new_gradient - gradient
        if float(s @ y) > 1e-10:
            steps = [*steps[-(MEMORY - 1) :], (s, y)]
        theta, value, gradient = moved, new_value, new_gradient
        if np.abs(gradient).max() < TOLERANCE * max(1.0, abs(value)):
            break
    return theta


def _two_loop(
    gradient: np.ndarray, steps: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """The L-BFGS estimate of the inverse Hessian times the gradient."""
    q = gradient.copy()
    alphas = []
    for s, y in reversed(steps):
        alpha = float(s @ q) / float(y @ s)
        alphas.append(alpha)
        q -= alpha * y
    if steps:
        s, y = steps[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y), alpha in zip(steps, reversed(alphas), strict=True):
        q += s * (alpha - float(y @ q) / float(y @ s))
    return q


def folds(labels: np.ndarray, repeat: int) -> np.ndarray:
    """The fold of each row: stratified, shuffled by a fixed seed per repeat."""
    fold = np.zeros(len(labels), dtype=np.int64)
    shuffle = np.random.default_rng(repeat)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        fold[shuffle.permutation(rows)] = np.arange(len(rows)) % FOLDS
    return fold


def out_of_fold(
    x: np.ndarray, labels: np.ndarray, classes: int, c: float, start: np.ndarray
) -> np.ndarray:
    """Each row's scores from fits that did not see it, averaged over REPEATS
    partitions into FOLDS (each fit starts from the full fit's solution)."""
    scores = np.zeros((len(labels), classes))
    for repeat in range(REPEATS):
        fold = folds(labels, repeat)
        for held in range(FOLDS):
            train, test = fold != held, fold == held
            w, b = fit(x[train], labels[train], classes, c, start)
            scores[test] += x[test] @ w.T + b
    return scores / REPEATS


def calibrate(
    scores: np.ndarray, labels: np.ndarray, held_none: np.ndarray, null_share: float
) -> float:
    """The bias of "no plugin" that serves held-out sentences best: plugin
    sentences reaching their plugin, weighted 1 - null_share, and held-out
    none sentences (held_none) reaching none, weighted null_share. Each reaches
    its class softly, by the sigmoid of its class's lead over the best other
    class at temperature SOFTNESS (a hard count swings with the folds); of
    equally good biases the smallest in size wins."""
    rows = np.arange(len(labels))
    none = scores.shape[1] - 1
    plugin = labels != none
    best, chosen = -np.inf, 0.0
    for bias in sorted(BIASES, key=abs):
        shifted = scores.copy()
        shifted[:, none] += bias
        own = shifted[rows, labels]
        shifted[rows, labels] = -np.inf
        reached = _sigmoid((own - shifted.max(axis=1)) / SOFTNESS)
        routed = float(reached[plugin].mean()) if plugin.any() else 0.0
        kept = float(reached[held_none].mean()) if held_none.any() else 0.0
        quality = (1 - null_share) * routed + null_share * kept
        if quality > best + 1e-12:
            best, chosen = quality, float(bias)
    return chosen


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))
