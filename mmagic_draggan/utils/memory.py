"""Give freed heap memory back to the operating system.

A whole-map pass (a render, the features at the start of a drag) frees tens
of megabytes of tensors at once. glibc's allocator keeps much of that in its
heaps, where the small tensors of the following drag steps fragment it, so
the process's resident memory stays at its peak. :func:`release_freed_memory`
asks glibc to return the free pages (``malloc_trim(0)``, about 10 ms); it is
called after such passes, never per step (re-faulting pages every step would
cost more than it saves). A no-op where the C library is not glibc.
"""
import ctypes
import ctypes.util
import functools
import sys


@functools.lru_cache(maxsize=None)
def _malloc_trim():
    if not sys.platform.startswith('linux'):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Return free heap pages to the OS; True when glibc did release some."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
