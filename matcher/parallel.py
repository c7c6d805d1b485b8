"""Work spread over forked worker processes, results handed back in input order.

Used where one core is the limit: classifying pages of stored items (``classification_store``).
Workers are forked, so they share the parent's loaded model and lexicon pages instead of loading
their own; the parent keeps reading its input and writing results while they work.  Without
``fork`` (macOS and Windows start processes by spawning), with one worker, or when only one task
needs real work, everything runs in this process: the results are the same either way.
"""
from __future__ import annotations

import multiprocessing
from collections import deque
from typing import Callable, Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def can_fork() -> bool:
    """True where worker processes can be forked (Linux and other POSIX systems offering ``fork``)."""
    return "fork" in multiprocessing.get_all_start_methods()


class _Ready:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _Held:
    __slots__ = ("task",)

    def __init__(self, task):
        self.task = task


def ordered_map(fn: Callable[[T], R], tasks: Iterable[T], *, workers: int,
                light: Optional[Callable[[T], bool]] = None, initializer: Optional[Callable[[], None]] = None,
                window: int = 2) -> Iterator[R]:
    """``fn(task)`` for each task, yielded in task order, computed by ``workers`` forked processes.

    ``tasks`` is consumed lazily in this process (it may read a database between results); at most
    ``workers x window`` tasks are in the workers' hands, so memory stays bounded.  Tasks for which
    ``light(task)`` is true are computed here (not worth a round trip).  The pool is started only
    when a second task needing a worker arrives; ``fn``, the tasks and the results must be picklable.
    An exception in a worker is raised here when its result is reached.
    """
    if workers < 2 or not can_fork():
        yield from (fn(t) for t in tasks)
        return
    pool = None
    pending: deque = deque()
    in_flight = 0
    try:
        for task in tasks:
            if light is not None and light(task):
                pending.append(_Ready(fn(task)))
            elif pool is None and not any(isinstance(p, _Held) for p in pending):
                pending.append(_Held(task))  # the first heavy task waits: maybe it is the only one
            else:
                if pool is None:
                    pool = multiprocessing.get_context("fork").Pool(workers, initializer=initializer)
                    pending = deque(pool.apply_async(fn, (p.task,)) if isinstance(p, _Held) else p for p in pending)
                    in_flight = 1
                pending.append(pool.apply_async(fn, (task,)))
                in_flight += 1
            while pending and not isinstance(pending[0], _Held):
                head = pending[0]
                if isinstance(head, _Ready):
                    yield pending.popleft().value
                elif head.ready() or in_flight >= workers * window:
                    in_flight -= 1
                    yield pending.popleft().get()
                else:
                    break
        while pending:
            head = pending.popleft()
            yield head.value if isinstance(head, _Ready) else fn(head.task) if isinstance(head, _Held) else head.get()
        if pool is not None:
            pool.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
