"""Process-wide settings: the one guard on BLAS threads that training takes, and what a process
that answers requests sets once at its start (BLAS threads, the allocator)."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

# ---- BLAS threads ------------------------------------------------------------------------------


class _OneBlasThread:
    """A process-wide "BLAS on one thread" shared by every thread that asks for it.

    BLAS thread counts are process-wide, so a per-call limit (save, set 1, restore) is wrong when
    calls overlap: the second call saves the first one's 1 and restores it last, or the first
    restores 2 while the second still runs. Here the first entrant saves and sets, the last one
    out restores; calls in between only count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = None
        self._controller = None

    def _blas(self):
        if self._controller is None:  # built once (~2.5 ms): it must see every BLAS the process will use
            import scipy.linalg  # noqa: F401  (loads SciPy's own BLAS beside NumPy's: both are limited)
            from threadpoolctl import ThreadpoolController

            self._controller = ThreadpoolController().select(user_api="blas")
        return self._controller

    def enter(self) -> None:
        with self._lock:
            if self._users == 0:
                pools = self._blas().lib_controllers
                self._saved = [pool.num_threads for pool in pools]
                for pool in pools:
                    pool.set_num_threads(1)
            self._users += 1

    def exit(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._saved is not None:
                for pool, threads in zip(self._blas().lib_controllers, self._saved):
                    pool.set_num_threads(threads)
                self._saved = None


_ONE_BLAS_THREAD = _OneBlasThread()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS runs on one thread inside (safe when many threads enter and leave at once)."""
    _ONE_BLAS_THREAD.enter()
    try:
        yield
    finally:
        _ONE_BLAS_THREAD.exit()


# ---- a serving process ---------------------------------------------------------------------------

# glibc's allocator: below this size freed memory stays in the heap for the next request
ALLOCATOR_KEEP_BYTES = 32 << 20


def prepare_serving_process(blas_threads: int = 1) -> dict[str, bool]:
    """Settings for a process that answers requests, made once at its start (the API's workers,
    the dashboard, the benchmarks that time requests); which of them took effect.

    - BLAS on `blas_threads` threads: a request's products are small, concurrent requests (and
      processes) each bring their own pool, and on busy cores a waiting pool spins; measured on
      the workbook's ALS candidate product, 7.7 ms with the default pool against 0.27 ms.
    - the allocator (`keep_freed_memory`)."""
    done = {"blas": False, "malloc": keep_freed_memory()}
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(blas_threads, user_api="blas")
        done["blas"] = True
    except Exception:  # noqa: BLE001 - a missing threadpoolctl leaves the defaults
        pass
    return done


def keep_freed_memory() -> bool:
    """glibc's malloc keeps freed blocks under 32 MiB instead of handing the heap's top back to the
    kernel; True when it took effect. A request (or a training stage) allocates and frees arrays
    of ~0.1-2 MB over and over, and a trimmed heap faults every page back in the next time (a
    165k-entry gather: 1.6 ms against 0.16 ms). Bigger arrays are still mapped and returned to
    the kernel when freed."""
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
        return bool(libc.mallopt(m_mmap_threshold, ALLOCATOR_KEEP_BYTES)) and \
            bool(libc.mallopt(m_trim_threshold, 2 * ALLOCATOR_KEEP_BYTES))
    except (OSError, AttributeError):  # not glibc: its own defaults
        return False
