"""The store pool of the web tier: calls run on its threads, their results and
errors come back to the awaiting coroutine, and its size does not grow."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ingress.inbox import Blocking


def test_a_call_returns_its_result_and_raises_its_error():
    blocking = Blocking(2)

    async def main():
        assert await blocking(lambda a, b=0: a + b, 2, b=3) == 5
        with pytest.raises(KeyError, match="missing"):
            await blocking({}.__getitem__, "missing")
        return await blocking(threading.current_thread)

    try:
        ran_on = asyncio.run(main())
    finally:
        blocking.close()
    assert ran_on is not threading.main_thread()
    assert ran_on.name.startswith("zoozl-store")


def test_many_calls_at_once_run_on_as_many_threads_as_the_pool_has():
    blocking = Blocking(3)
    seen: set[int] = set()

    def call(n):
        seen.add(threading.get_ident())
        return n

    async def main():
        return await asyncio.gather(*(blocking(call, n) for n in range(500)))

    try:
        assert asyncio.run(main()) == list(range(500))
    finally:
        blocking.close()
    assert len(seen) <= 3
    assert (
        len([t for t in threading.enumerate() if t.name.startswith("zoozl-store")]) <= 3
    )


def test_a_call_whose_awaiter_was_cancelled_before_it_ran_is_skipped():
    blocking = Blocking(1)
    release, ran = threading.Event(), []

    async def main():
        first = asyncio.ensure_future(blocking(release.wait, 10))
        second = asyncio.ensure_future(blocking(ran.append, "second"))
        await asyncio.sleep(0)
        second.cancel()  # while the one thread still runs the first call
        release.set()
        assert await first is True
        assert await blocking(ran.append, "third") is None

    try:
        asyncio.run(main())
    finally:
        blocking.close()
    assert ran == ["third"]


def test_close_ends_the_threads():
    blocking = Blocking(2)

    async def main():
        await blocking(int)

    asyncio.run(main())
    threads = list(blocking._threads)
    blocking.close()
    for thread in threads:
        thread.join(10)
    assert threads and not any(thread.is_alive() for thread in threads)
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(main())
