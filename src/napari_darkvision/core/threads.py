"""The same pixels at any thread count: torch's CPU work on a fixed number of intra-op threads.

How a convolution or a sum splits its work between threads sets the order in which it adds
floats, so its last bits, and after a demosaic that picks a direction per pixel, whole 8-bit
levels, depend on the thread count. Here every piece of work (a tile, a band, the noise
estimate) runs on :data:`WORK_THREADS` intra-op threads whatever the machine, in threads of a
pool of our own; the cores a caller allows (``torch.get_num_threads()``) run pieces side by
side instead. Torch releases the GIL while it computes, so the pieces run in parallel.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Intra-op threads of each piece of work, on every machine: the summation order of one.
WORK_THREADS = 1

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


#: At most this many pieces at once: each tile in flight holds its activations (about 0.19 GB
#: for release 5 at the default tile), so a 12 MP frame stays within 2 GB on any machine.
MAX_PIECES_AT_ONCE = 6


def parallel_pieces() -> int:
    """How many pieces run at once: the caller's torch threads (its share of the cores, e.g. a
    batch worker's), in pieces of :data:`WORK_THREADS` threads each, no more than the cores
    and :data:`MAX_PIECES_AT_ONCE`."""
    import torch

    from .parameters import usable_cores

    return max(1, min(torch.get_num_threads() // WORK_THREADS, usable_cores(), MAX_PIECES_AT_ONCE))


def _worker_pool(size: int) -> ThreadPoolExecutor:
    """The process's pool, with room for `size` pieces at once (grown, never shrunk)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < size:
            if _pool is not None:
                _pool.shutdown(wait=False)  # its threads end when their pieces do
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="darkvision-work")
            _pool_size = size
        return _pool


def _on_work_threads(work: Callable[[Item], Result], item: Item) -> Result:
    """`work(item)` on WORK_THREADS intra-op threads, in inference mode (thread-local in torch)."""
    import torch

    if torch.get_num_threads() != WORK_THREADS:
        # the thread's own OpenMP setting; the process-wide default is put back by the caller
        torch.set_num_threads(WORK_THREADS)
    with torch.inference_mode():
        return work(item)


def map_in_order(
    work: Callable[[Item], Result], items: Iterable[Item], parallel: int | None = None
) -> Generator[Result, None, None]:
    """``work(item)`` for each item, yielded in the items' order (so that whatever the caller
    adds up, it adds in one order), with at most `parallel` (default :func:`parallel_pieces`)
    computed at once and ahead. Closing the generator cancels what has not started and waits
    for what has."""
    import torch

    parallel = parallel or parallel_pieces()
    caller_threads = torch.get_num_threads()
    pool = _worker_pool(parallel)
    pending: deque[Future] = deque()
    items = iter(items)
    try:
        for item in items:
            pending.append(pool.submit(_on_work_threads, work, item))
            if len(pending) >= parallel:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                future.exception()  # wait: no piece outlives the run that asked for it
        # a pool thread's first set_num_threads also moved the default of new threads: put back
        torch.set_num_threads(caller_threads)


def run_on_work_threads(work: Callable[[], Result]) -> Result:
    """`work()` on WORK_THREADS intra-op threads (in a pool thread): one piece, the same bits
    whatever the caller's thread count."""
    return list(map_in_order(lambda _: work(), [None], parallel=1))[0]
