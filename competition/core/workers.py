"""One worker pool for the stages that cut their work into chunks of files."""
from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


def map_chunks(function: Callable[[Job], Result], jobs: list[Job], workers: int) -> Iterator[Result]:
    """`function` over `jobs`, results in order: in `workers` processes when there is more than
    one job to share, else in this one. `function` must be importable (a module-level function)."""
    if workers > 1 and len(jobs) > 1:
        # spawn, not fork: the parent may already hold TensorFlow's threads.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
            yield from pool.map(function, jobs)
    else:
        yield from map(function, jobs)


def chunked(items: list[Job], size: int) -> Iterable[list[Job]]:
    return (items[i:i + size] for i in range(0, len(items), size))
