"""Wake a coroutine at an absolute time, to the microsecond, whatever it did before.

``asyncio.sleep`` cannot hide how long the work before it took: the epoll selector
rounds the loop's wait up to whole milliseconds *from the moment the loop went idle*,
so a coroutine that sleeps "until T" wakes at T plus a sub-millisecond remainder that
keeps the phase of the work before the sleep.  A failed login answered "5 ms after
arrival" that way still came 5 ms + (decryption time) after arrival, the timing oracle
intact.  Here one thread waits for the earliest deadline on a ``threading.Condition``
(nanosecond timed waits) and hands each due future back to its loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time

__all__ = ["DeadlineWaker"]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # the waiter may have been cancelled (its socket closed)
        future.set_result(None)


class DeadlineWaker:
    """``await waker.until(deadline)`` (a ``time.monotonic()`` value); ``close()`` ends it."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties: first come, first woken (futures don't compare)
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    async def until(self, deadline: float) -> None:
        if deadline <= time.monotonic():
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._changed:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadline-waker",
                                                daemon=True)
                self._thread.start()
            heapq.heappush(self._due, (deadline, next(self._order), loop, future))
            self._changed.notify()
        await future

    def close(self) -> None:
        """Wake every waiter now and stop the thread (a later ``until`` starts another)."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()
        self._thread, self._closed = None, False

    def _run(self) -> None:
        with self._changed:
            while True:
                if self._closed:
                    due, self._due = self._due, []
                elif not self._due:
                    self._changed.wait()
                    continue
                elif (wait := self._due[0][0] - time.monotonic()) > 0:
                    self._changed.wait(wait)
                    continue
                else:
                    due = [heapq.heappop(self._due)]
                for _, _, loop, future in due:
                    try:
                        loop.call_soon_threadsafe(_resolve, future)
                    except RuntimeError:  # that loop is closed: nobody waits any more
                        pass
                if self._closed:
                    return
