"""Validation helpers shared by the config groups: each failure names the field it checks."""
from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["FrozenDict", "fail", "number", "integer", "integer_at_least", "integer_in",
           "non_negative", "positive", "one_of", "boolean", "number_tuple", "INT64_MAX"]

#: The largest value an int64 holds (seeds reach the C++ kernels as int64).
INT64_MAX = 2 ** 63 - 1


class FrozenDict(dict):
    """A read-only, hashable dict (so that configs holding dicts stay hashable)."""

    def _ro(self, *a, **k):
        raise TypeError("this mapping is read-only (configs are frozen); use replace()")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _ro  # type: ignore

    def __hash__(self):  # type: ignore[override]
        return hash(tuple(sorted((k, _hashable(v)) for k, v in self.items())))

    def __reduce__(self):
        return (FrozenDict, (dict(self),))

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self


def _hashable(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def fail(path: str, msg: str, value: Any):
    raise ValueError(f"{path} {msg}, got {value!r}")


def number(path, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        fail(path, "must be a number", v)
    if not math.isfinite(float(v)):
        fail(path, "must be finite", v)
    return v


def integer(path, v) -> int:
    """``v`` as a plain ``int``: Python and NumPy integers pass; floats (``128.0`` too), bools
    and everything else fail naming ``path``."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        fail(path, "must be an integer", v)
    return int(v)


def integer_at_least(path, v, lo) -> int:
    v = integer(path, v)
    if v < lo:
        fail(path, f"must be >= {lo}", v)
    return v


def integer_in(path, v, lo, hi, why: str = "") -> int:
    """An integer in ``[lo, hi]``; ``why`` explains the range in the message."""
    v = integer(path, v)
    if not lo <= v <= hi:
        fail(path, f"must be an integer in [{lo}, {hi}]{why}", v)
    return v


def non_negative(path, v):
    number(path, v)
    if v < 0:
        fail(path, "must be >= 0 (negative values are not physical)", v)


def positive(path, v):
    number(path, v)
    if v <= 0:
        fail(path, "must be > 0", v)


def one_of(path, v, allowed):
    if v not in allowed:
        fail(path, f"must be one of {list(allowed)}", v)


def boolean(path, v):
    if not isinstance(v, bool):
        fail(path, "must be a bool", v)


def number_tuple(path, v, size):
    """A tuple of ``size`` finite numbers (lists from TOML/JSON are accepted)."""
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != size:
        fail(path, f"must be a list of {size} numbers", v)
    for i, x in enumerate(v):
        number(f"{path}[{i}]", x)
    return tuple(float(x) for x in v)
