"""The one channel through which emulated hardware reports work to energy meters.

Kernels, layers and the device's fallback call the ``record_*`` functions below; a meter
(``torch_photonic.energy.meter``) subscribes while it is open. With no meter open every function
returns after one attribute check, so nothing is recorded and nothing slows down.

Event kinds (all sizes are plain ints, energies are computed by the meter, not here):

* ``mvm``: one optical matrix product. ``m`` rows of activations (tokens), ``k`` inputs
  (fan-in), ``n`` outputs, on ``config`` (a :class:`torch_photonic.HardwareConfig`).
  ``dynamic=True`` marks a product whose both operands change every call (attention).
* ``program``: ``cells`` PCM cells written for ``weights`` weights (of ``expert``, if any).
* ``host``: an op run on the electronic host: ``flops`` and ``bytes`` moved (over ``calls``
  calls of the op, 1 unless the payload says otherwise).
* ``kv``: KV-cache traffic in bytes (read and written).
* ``transfer``: activations sent from one chip to another (``bytes``, ``scaleout``: across
  supernodes), priced by the config's interconnect.
"""
from __future__ import annotations

import math
import threading
from typing import Any, List, Optional

_lock = threading.Lock()
_sinks: List[Any] = []  # open meters, innermost last


def active() -> bool:
    """True while at least one meter is open."""
    return bool(_sinks)


def subscribe(sink: Any) -> None:
    with _lock:
        _sinks.append(sink)


def unsubscribe(sink: Any) -> None:
    with _lock:
        if sink in _sinks:
            _sinks.remove(sink)


def _emit(kind: str, payload: dict) -> None:
    with _lock:
        sinks = list(_sinks)
    for s in sinks:
        s.on_event(kind, payload)


def _size(fn: str, name: str, v: Any) -> int:
    """``v`` as an int; a negative or fractional size fails naming ``fn``'s argument."""
    i = int(v)
    if i < 0 or i != v:
        raise ValueError(f"{fn}: {name} must be an integer >= 0, got {v!r}")
    return i


def _amount(fn: str, name: str, v: Any) -> float:
    """``v`` as a float; a negative, NaN or infinite amount fails naming ``fn``'s argument."""
    f = float(v)
    if not 0.0 <= f < math.inf:
        raise ValueError(f"{fn}: {name} must be a finite number >= 0, got {v!r}")
    return f


def record_mvm(module: str, op: str, m: int, k: int, n: int, config: Any, *,
               dynamic: bool = False, expert: Optional[int] = None, batch: int = 1) -> None:
    if _sinks:
        f = "record_mvm"
        _emit("mvm", dict(module=module, op=op, m=_size(f, "m", m), k=_size(f, "k", k),
                          n=_size(f, "n", n), config=config, dynamic=bool(dynamic),
                          expert=expert, batch=_size(f, "batch", batch)))


def record_program(module: str, weights: int, cells: int, config: Any, *,
                   expert: Optional[int] = None) -> None:
    if _sinks:
        f = "record_program"
        _emit("program", dict(module=module, weights=_size(f, "weights", weights),
                              cells=_size(f, "cells", cells), config=config, expert=expert))


def record_host(op: str, flops: float, bytes_moved: float, module: str = "") -> None:
    if _sinks:
        _emit("host", dict(op=op, flops=_amount("record_host", "flops", flops),
                           bytes=_amount("record_host", "bytes_moved", bytes_moved),
                           module=module))


def record_kv(bytes_read: float, bytes_written: float, module: str = "") -> None:
    if _sinks:
        _emit("kv", dict(bytes_read=_amount("record_kv", "bytes_read", bytes_read),
                         bytes_written=_amount("record_kv", "bytes_written", bytes_written),
                         module=module))


def record_transfer(module: str, bytes_moved: float, *, scaleout: bool = False) -> None:
    if _sinks:
        if not bytes_moved >= 0:
            raise ValueError(f"record_transfer: bytes_moved must be >= 0, got {bytes_moved!r}")
        _emit("transfer", dict(module=module, bytes=float(bytes_moved), scaleout=bool(scaleout)))


class Recorder:
    """Collects the raw events inside a ``with`` block (for tests and for inspecting what a
    model reports): ``with Recorder() as rec: ...; rec.of("mvm")``."""

    def __init__(self) -> None:
        self.events: List[tuple] = []

    def on_event(self, kind: str, payload: dict) -> None:
        self.events.append((kind, payload))

    def of(self, kind: str) -> List[dict]:
        """The payloads of the events of ``kind`` ("mvm", "program", "host", "kv" or
        "transfer")."""
        return [p for k, p in self.events if k == kind]

    def __enter__(self) -> "Recorder":
        subscribe(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        unsubscribe(self)
