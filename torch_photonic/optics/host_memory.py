"""Giving the host memory a model lets go back to the operating system.

glibc's ``malloc`` raises its mmap threshold each time a large block is freed, so after a few
weights are freed, later ones of the same size live on the heap, and freeing them leaves their
pages in the process (resident, though unused) until the heap is trimmed. Letting the digital
weights of a whole model go (``tp.program(model, release_weights=True)``) would then lower no
resident memory at all. :func:`trim` returns the free pages (``malloc_trim(0)``) where the C
library has it, and does nothing elsewhere.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Optional

__all__ = ["trim"]

_libc: Optional[ctypes.CDLL] = None
_looked = False


def _c_library() -> Optional[ctypes.CDLL]:
    global _libc, _looked
    if not _looked:
        _looked = True
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name) if name else None
        except OSError:
            lib = None
        _libc = lib if lib is not None and hasattr(lib, "malloc_trim") else None
    return _libc


def trim() -> bool:
    """Returns the heap's free pages to the operating system; True if the C library could."""
    lib = _c_library()
    return bool(lib is not None and lib.malloc_trim(0))
