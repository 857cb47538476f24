"""Encoding together: callers that wait share one run; a lone caller never waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from zoozl.embedding.onnx import OnnxMiniLMEmbedder
from zoozl.embedding.together import Together, lend_while_waiting

WAIT = 10.0  # seconds a test waits for a thread before it fails


class Model:
    """A stand-in model: a text's vector is [len(text), its first letter's code];
    each run is recorded, and a run can be held until the test lets it go."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.threads: list[str] = []
        self.hold = threading.Event()
        self.hold.set()
        self.inside = threading.Event()
        self.fail: Exception | None = None

    def run(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        self.threads.append(threading.current_thread().name)
        self.inside.set()
        assert self.hold.wait(WAIT)
        if self.fail is not None:
            raise self.fail
        return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


def vector(text: str) -> list[float]:
    return [float(len(text)), float(ord(text[0]))]


def until(condition: object, what: str) -> None:
    """Wait (bounded) until condition() holds."""
    done = threading.Event()
    for _ in range(int(WAIT / 0.005)):
        if condition():  # type: ignore[operator]
            return
        done.wait(0.005)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=16) as executor:
        yield executor


def test_a_lone_caller_runs_at_once_on_its_own_thread() -> None:
    model = Model()
    together = Together(model.run, limit=32)
    vectors = together.encode(["hello", "hi"])
    assert vectors.tolist() == [vector("hello"), vector("hi")]
    assert model.batches == [["hello", "hi"]]
    assert model.threads == [threading.current_thread().name]
    assert together.waiting == 0


def test_callers_that_wait_during_a_run_share_the_next_one(
    pool: ThreadPoolExecutor,
) -> None:
    model = Model()
    together = Together(model.run, limit=32)
    model.hold.clear()
    first = pool.submit(together.encode, ["first"])
    assert model.inside.wait(WAIT)  # a run is in progress
    texts = [f"text {i}" for i in range(10)]
    later = [pool.submit(together.encode, [text]) for text in texts]
    until(lambda: together.waiting == len(texts), "ten queued callers")
    model.hold.set()
    assert first.result(WAIT).tolist() == [vector("first")]
    for text, future in zip(texts, later, strict=True):
        assert future.result(WAIT).tolist() == [vector(text)]
    assert together.runs == 2  # eleven callers, two runs
    assert model.batches[0] == ["first"]
    assert sorted(model.batches[1]) == texts


def test_a_batch_holds_at_most_the_limit(pool: ThreadPoolExecutor) -> None:
    model = Model()
    together = Together(model.run, limit=4)
    model.hold.clear()
    first = pool.submit(together.encode, ["first"])
    assert model.inside.wait(WAIT)
    later = [pool.submit(together.encode, [f"t{i}", f"u{i}"]) for i in range(5)]
    until(lambda: together.waiting == 5, "five queued callers")
    model.hold.set()
    for i, future in enumerate(later):
        assert future.result(WAIT).tolist() == [vector(f"t{i}"), vector(f"u{i}")]
    first.result(WAIT)
    assert [len(batch) for batch in model.batches] == [1, 4, 4, 2]


def test_every_caller_of_a_failed_run_gets_its_error_and_the_next_run_works(
    pool: ThreadPoolExecutor,
) -> None:
    model = Model()
    together = Together(model.run, limit=32)
    model.hold.clear()
    first = pool.submit(together.encode, ["first"])
    assert model.inside.wait(WAIT)
    model.fail = RuntimeError("the model broke")
    later = [pool.submit(together.encode, [f"t{i}"]) for i in range(3)]
    until(lambda: together.waiting == 3, "three queued callers")
    model.hold.set()
    for future in [first, *later]:
        with pytest.raises(RuntimeError, match="the model broke"):
            future.result(WAIT)
    model.fail = None
    assert together.encode(["again"]).tolist() == [vector("again")]


def test_with_two_lanes_a_second_caller_does_not_wait_for_the_first(
    pool: ThreadPoolExecutor,
) -> None:
    model = Model()
    together = Together(model.run, limit=32, lanes=2)
    model.hold.clear()
    first = pool.submit(together.encode, ["first"])
    assert model.inside.wait(WAIT)
    second = pool.submit(together.encode, ["second"])
    until(lambda: len(model.batches) == 2, "a second run beside the first")
    assert together.waiting == 0
    model.hold.set()
    assert first.result(WAIT).tolist() == [vector("first")]
    assert second.result(WAIT).tolist() == [vector("second")]


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Together(Model().run, limit=0)


# The serving embedder: fp32 batches give each text the vector it has alone.


@pytest.fixture(scope="module")
def fp32(exported_model: object, model_cache_dir: Path) -> OnnxMiniLMEmbedder:
    embedder = OnnxMiniLMEmbedder(model_cache_dir)
    embedder.load()
    return embedder


@pytest.mark.model
def test_the_serving_embedder_runs_a_lone_text_at_once_through_together(
    fp32: OnnxMiniLMEmbedder,
) -> None:
    ran = fp32.together.runs
    vectors = fp32.encode(["hello there"])
    assert fp32.together.runs == ran + 1
    assert np.array_equal(vectors, fp32._encode_all(["hello there"]))


@pytest.mark.model
def test_texts_of_several_threads_in_one_run_get_the_vectors_they_get_alone(
    fp32: OnnxMiniLMEmbedder, pool: ThreadPoolExecutor
) -> None:
    texts = [
        "hello",
        "can you help me with my account please",
        "what is the weather like in riga tomorrow morning",
        "thanks",
        "play a game of bulls and cows with me",
        "who are you",
        "remind me to call mom at five",
        "ok",
    ]
    alone = np.vstack([fp32._encode_all([text]) for text in texts])
    gate = threading.Event()
    batches: list[int] = []

    def run(batch: list[str]) -> np.ndarray:
        batches.append(len(batch))
        assert gate.wait(WAIT)
        return fp32._encode_all(batch)

    together = Together(run, limit=32)
    first = pool.submit(together.encode, texts[:1])
    until(lambda: batches, "the first run")
    later = [pool.submit(together.encode, [text]) for text in texts[1:]]
    until(lambda: together.waiting == len(texts) - 1, "seven queued callers")
    gate.set()
    rows = [first.result(WAIT), *(future.result(WAIT) for future in later)]
    assert batches == [1, len(texts) - 1]
    assert np.array_equal(np.vstack(rows), alone)  # padding changes no vector


class Ledger:
    """A Lender that records what its thread lent and took back."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def lend(self) -> None:
        self.calls.append("lend")

    def reclaim(self) -> None:
        self.calls.append("reclaim")


def test_a_caller_lends_while_it_waits_and_takes_back_once_its_run_is_over(
    pool: ThreadPoolExecutor,
) -> None:
    model = Model()
    together = Together(model.run, limit=32)
    runner, waiter = Ledger(), Ledger()

    def encode(ledger: Ledger, text: str) -> np.ndarray:
        lend_while_waiting(ledger)
        try:
            return together.encode([text])
        finally:
            lend_while_waiting(None)

    model.hold.clear()
    first = pool.submit(encode, runner, "first")
    assert model.inside.wait(WAIT)
    second = pool.submit(encode, waiter, "second")
    until(lambda: waiter.calls == ["lend"], "the waiting caller lent")
    assert runner.calls == []  # it runs: it keeps what it holds
    model.hold.set()
    assert second.result(WAIT).tolist() == [vector("second")]
    first.result(WAIT)
    assert waiter.calls == ["lend", "reclaim"]
    assert runner.calls == []


def test_a_caller_whose_run_fails_takes_back_what_it_lent(
    pool: ThreadPoolExecutor,
) -> None:
    model = Model()
    together = Together(model.run, limit=32)
    ledger = Ledger()

    def encode() -> np.ndarray:
        lend_while_waiting(ledger)
        try:
            return together.encode(["second"])
        finally:
            lend_while_waiting(None)

    model.hold.clear()
    first = pool.submit(together.encode, ["first"])
    assert model.inside.wait(WAIT)
    second = pool.submit(encode)
    until(lambda: ledger.calls == ["lend"], "the waiting caller lent")
    model.fail = RuntimeError("the model broke")
    model.hold.set()
    for future in (first, second):
        with pytest.raises(RuntimeError, match="the model broke"):
            future.result(WAIT)
    assert ledger.calls == ["lend", "reclaim"]
