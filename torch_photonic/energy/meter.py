"""Energy and latency meter: ``with tp.meter() as m: model(x)``.

A meter subscribes to :mod:`torch_photonic.energy.events` while open and turns each event into
joules and seconds with :mod:`torch_photonic.energy` (formulas there). Meters nest (an outer
meter sees everything an inner one sees) and are thread-safe (events from any thread are
counted under a lock). With no meter open, producers return after one check.

Two modes are kept apart everywhere: ``bottom_up`` (component parameters) and ``claim``
(the vendor's TOPS/W and POPS applied to the optical op count). ``m.joules`` / ``m.seconds``
use the config's ``mode``; ``m.breakdown(mode)`` etc. take either explicitly.

Capacity: weights are free only while resident. The resident model is
``resident_cells`` (argument) or else the cells seen in ``program`` events (or, failing those,
the distinct weights the products used). When it exceeds ``chips * cells_per_chip`` the
``capacity`` policy decides: ``"rewrite"`` (default) pins what fits and rewrites the rest each
time it is used, charging ``pcm_rewrite`` energy and time and reporting wear; ``"chips"``
charges nothing and reports the chips needed. Either way :meth:`Meter.capacity` reports both.

This module accumulates and prices events (totals, ``breakdown``); the read-out views
(``per_layer``, ``per_token``, ``capacity``, ``compare``, ``cost``, ``to_dict``, ``summary``)
live in :mod:`torch_photonic.energy.meter_views`, which :class:`Meter` inherits.
"""
from __future__ import annotations

import math
import numbers
import threading
from typing import Any, Dict, List, Optional

from . import model as E
from . import events
from .meter_views import MODES, MeterViews
from .static import static_energy
from .schema import SCHEMA_PATH, SCHEMA_VERSION
from ..hardware.resolve import resolve, resolve_as

__all__ = ["Meter", "meter", "SCHEMA_PATH", "SCHEMA_VERSION"]


class _Row:
    __slots__ = ("module", "op", "calls", "macs", "optical_macs", "rows", "bu", "claim",
                 "seconds_bu", "seconds_claim", "used_cells", "host_flops", "host_bytes",
                 "kv_read", "kv_written", "claim_missing", "link_j", "link_s")

    def __init__(self, module: str, op: str):
        self.module, self.op = module, op
        self.calls = 0
        self.macs = 0            # all matrix-product MACs (optical and electronic-dynamic)
        self.optical_macs = 0
        self.rows = 0            # sum of product rows m per call (for the GPU regime)
        self.bu: Dict[str, float] = {}
        self.claim: Dict[str, float] = {}
        self.seconds_bu = 0.0
        self.seconds_claim = 0.0
        self.used_cells = 0      # PCM cells the products read (static weights only)
        self.host_flops = 0.0    # raw host / kv counts, priced at read time
        self.host_bytes = 0.0
        self.kv_read = 0.0
        self.kv_written = 0.0
        self.link_j = 0.0        # transfers between chips, priced when recorded
        self.link_s = 0.0
        self.claim_missing = False


# ---- ops the photonic device ran on its electronic host (the CPU fallback) ------------------
_host_counting_users = 0
_host_counting_lock = threading.Lock()


def _device_host_ops_start() -> Dict[str, Dict[str, int]]:
    """Switches the device's per-op host counters on (refcounted) and returns a snapshot."""
    global _host_counting_users
    from .. import _C

    with _host_counting_lock:
        _host_counting_users += 1
        _C._set_host_op_counting(True)
        return _C._take_host_op_stats(False)


def _device_host_ops_stop(before: Dict[str, Dict[str, int]]) -> Dict[str, Dict[str, int]]:
    global _host_counting_users
    from .. import _C

    with _host_counting_lock:
        after = _C._take_host_op_stats(False)
        _host_counting_users -= 1
        if _host_counting_users == 0:
            _C._set_host_op_counting(False)
            _C._take_host_op_stats(True)
    out = {}
    for op, st in after.items():
        prev = before.get(op, {})
        delta = {k: v - prev.get(k, 0) for k, v in st.items()}
        if delta.get("calls", 0) > 0:
            out[op] = delta
    return out


def _host_op_event(op: str, st: Dict[str, int]) -> Dict[str, Any]:
    """A host event for an op the device ran on the CPU fallback.

    FLOPs are estimated as one per element read or written (elementwise ops, norms, softmax,
    routing: a lower bound; the device's matrix products never come here), bytes are measured.
    Both follow the bytes the fallback counts as touched: a gather (an embedding lookup) reads
    the elements it gathers and its indices, not its whole source, and a view touches nothing.
    ``st`` sums every call of ``op``; the event keeps their number, each call pays the overhead.
    """
    elements = max(st.get("elements_out", 0), st.get("bytes_in", 0) // 4)
    return dict(op=op, flops=float(elements), bytes=float(st.get("bytes_in", 0) + st.get("bytes_out", 0)),
                calls=int(st.get("calls", 1)), module="device.host")


def _add(d: Dict[str, float], k: str, v: float) -> None:
    d[k] = d.get(k, 0.0) + float(v)


class Meter(MeterViews):
    """Accumulates events into energy and time; see the module docstring.

    The read-out views (``per_layer``, ``per_token``, ``capacity``, ``compare``, ``cost``,
    ``to_dict``, ``summary``, ...) come from :class:`~torch_photonic.energy.meter_views.MeterViews`.
    """

    def __init__(self, config: Any = None, capacity: str = "rewrite",
                 resident_cells: Optional[int] = None):
        if capacity not in ("rewrite", "chips"):
            raise ValueError(f"capacity must be 'rewrite' or 'chips', got {capacity!r}")
        if resident_cells is not None and (isinstance(resident_cells, bool) or not isinstance(
                resident_cells, numbers.Real) or not 0 <= resident_cells < math.inf):
            raise ValueError(f"resident_cells must be a finite number of cells >= 0 or None, "
                             f"got {resident_cells!r}")
        self.config = None if config is None else resolve_as("config", config)
        self.policy = capacity
        self.resident_cells = resident_cells
        self.tokens: Optional[int] = None
        self._lock = threading.RLock()
        self._rows: Dict[tuple, _Row] = {}
        self._last_config = None
        self._programmed_cells = 0
        self._program_j = 0.0
        self._program_s = 0.0
        self._weights: Dict[tuple, int] = {}   # (module, expert) -> cells of that weight
        self._open = 0

    # ------------------------------------------------------------------ events
    def __enter__(self) -> "Meter":
        with self._lock:
            if self._open:
                raise RuntimeError("this meter is already open; open a new tp.meter() to nest")
            self._open = 1
        self._host_before = _device_host_ops_start()
        events.subscribe(self)
        return self

    def __exit__(self, *exc) -> None:
        events.unsubscribe(self)
        for op, st in _device_host_ops_stop(self._host_before).items():
            self.on_event("host", _host_op_event(op, st))
        with self._lock:
            self._open = 0

    def _row(self, module: str, op: str) -> _Row:
        key = (module, op)
        r = self._rows.get(key)
        if r is None:
            r = self._rows[key] = _Row(module, op)
        return r

    def on_event(self, kind: str, p: Dict[str, Any]) -> None:
        with self._lock:
            if kind == "mvm":
                self._on_mvm(p)
            elif kind == "program":
                cfg = p["config"]
                self._last_config = cfg
                cells = int(p["cells"])
                self._programmed_cells += cells
                r = self._row(p["module"], "program")
                r.calls += 1
                _add(r.bu, "pcm_write", E.program_energy(cfg, cells))
                _add(r.claim, "pcm_write", E.program_energy(cfg, cells))
                t = E.program_time(cfg, cells)
                r.seconds_bu += t
                r.seconds_claim += t
            elif kind == "host":
                r = self._row(p.get("module") or "host", p["op"])
                r.calls += p.get("calls", 1)
                r.host_flops += p["flops"]
                r.host_bytes += p["bytes"]
            elif kind == "transfer":
                from .interconnect import transfer
                cfg = self._cfg()
                r = self._row(p.get("module") or "interconnect", "transfer")
                r.calls += 1
                j, s = transfer(cfg, p["bytes"], scaleout=p.get("scaleout", False))
                r.link_j += j
                r.link_s += s
            elif kind == "kv":
                r = self._row(p.get("module") or "kv_cache", "kv")
                r.calls += 1
                r.kv_read += p["bytes_read"]
                r.kv_written += p["bytes_written"]

    def _on_mvm(self, p: Dict[str, Any]) -> None:
        cfg = p["config"]
        self._last_config = cfg
        m, k, n, b = p["m"], p["k"], p["n"], p.get("batch", 1)
        macs = m * k * n * b
        r = self._row(p["module"], p["op"])
        r.calls += 1
        r.macs += macs
        r.rows += m
        dynamic = p.get("dynamic", False)
        if dynamic and E._get(cfg, "dynamic.mode") == "electronic":
            # both operands change every call: run on the host. 2 FLOP per MAC; the [m,k]
            # input and [m,n] result move once at dynamic.bytes_per_element bytes each. The
            # [k,n] operand is the KV cache, whose traffic the producer reports with
            # record_kv (charged at the KV tier), so it is not charged again here.
            bpe = E._get(cfg, "dynamic.bytes_per_element")
            r.host_flops += 2.0 * macs
            r.host_bytes += float(b) * (m * k + m * n) * bpe
            return
        r.optical_macs += macs
        for comp, j in E.mvm_energy(cfg, m, k, n, b, dynamic=dynamic).items():
            _add(r.bu, comp, j)
        r.seconds_bu += E.mvm_latency(cfg, m, k, n, b) + float(E._get(cfg, "converters.latency_s"))
        cj = E.claim_energy(cfg, macs)
        if cj is None:
            r.claim_missing = True
        else:
            _add(r.claim, "claim", cj)
            r.seconds_claim += E.claim_latency(cfg, macs)
        if not dynamic:
            cells = k * n * b * int(cfg.array.cells_per_weight)
            r.used_cells += cells
            key = (p["module"], p.get("expert"))
            self._weights[key] = max(self._weights.get(key, 0), cells)

    # ------------------------------------------------------------------ merging
    def export_state(self) -> Dict[str, Any]:
        """What this meter counted, as plain values (:meth:`merge_state` adds it to another
        meter: the meters of the processes of a distributed run merge on one of them)."""
        with self._lock:
            rows = [{k: (dict(getattr(r, k)) if isinstance(getattr(r, k), dict)
                         else getattr(r, k)) for k in _Row.__slots__}
                    for r in self._rows.values()]
            return dict(rows=rows, programmed_cells=self._programmed_cells,
                        weights=[[m, e, c] for (m, e), c in self._weights.items()],
                        config=None if self._last_config is None else self._last_config.to_dict())

    def merge_state(self, state: Dict[str, Any]) -> None:
        """Adds the counts of another meter's :meth:`export_state` to this one's."""
        from ..hardware.config import HardwareConfig
        with self._lock:
            for d in state["rows"]:
                r = self._row(d["module"], d["op"])
                for k in _Row.__slots__:
                    if k in ("module", "op"):
                        continue
                    v = d[k]
                    if isinstance(v, dict):
                        for c, j in v.items():
                            _add(getattr(r, k), c, j)
                    elif isinstance(v, bool):
                        setattr(r, k, getattr(r, k) or v)
                    else:
                        setattr(r, k, getattr(r, k) + v)
            self._programmed_cells += int(state["programmed_cells"])
            for m, e, c in state["weights"]:
                key = (m, e)
                self._weights[key] = max(self._weights.get(key, 0), int(c))
            if self._last_config is None and state.get("config") is not None:
                self._last_config = HardwareConfig.from_dict(state["config"])

    # ------------------------------------------------------------------ helpers
    def _cfg(self) -> Any:
        cfg = self.config or self._last_config
        if cfg is None:
            cfg = resolve(None)
        return cfg

    @property
    def mode(self) -> str:
        cfg = self.config or self._last_config
        return getattr(cfg, "mode", "bottom_up") if cfg is not None else "bottom_up"

    def _has_claim(self) -> bool:
        cfg = self.config or self._last_config
        return cfg is not None and getattr(cfg, "claim", None) is not None

    def _check_mode(self, mode: Optional[str]) -> str:
        mode = mode or self.mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        return mode

    def _capacity_state(self) -> Dict[str, Any]:
        cfg = self._cfg()
        cap = E.capacity_cells(cfg)
        resident = self.resident_cells
        if resident is None:
            resident = self._programmed_cells or sum(self._weights.values())
        resident = int(resident)
        overflow = max(0.0, 1.0 - cap / resident) if resident > cap else 0.0
        per_chip = int(cfg.array.cells_per_chip)
        return dict(cfg=cfg, cap=cap, resident=resident, overflow=overflow,
                    chips_needed=max(1, math.ceil(resident / per_chip)) if resident else 0)

    def _row_energy(self, r: _Row, mode: str, st: Dict[str, Any]) -> Dict[str, float]:
        cfg = st["cfg"]
        out = dict(r.claim if mode == "claim" else r.bu)
        if r.host_flops or r.host_bytes:
            _add(out, "host", E.host_energy(cfg, r.host_flops, r.host_bytes))
        if r.kv_read or r.kv_written:
            _add(out, "kv", E.kv_energy(cfg, r.kv_read + r.kv_written))
        if r.link_j:
            _add(out, "interconnect", r.link_j)
        if self.policy == "rewrite" and st["overflow"] and r.used_cells:
            _add(out, "pcm_rewrite", E.program_energy(cfg, r.used_cells * st["overflow"]))
        if mode == "claim" and r.claim_missing:
            out = {}
        return out

    def _row_seconds(self, r: _Row, mode: str, st: Dict[str, Any]) -> float:
        t = r.seconds_claim if mode == "claim" else r.seconds_bu
        cfg = st["cfg"]
        if r.host_flops or r.host_bytes:
            t += E.host_seconds(cfg, r.host_flops, r.host_bytes, r.calls)
        if r.kv_read or r.kv_written:
            t += E.kv_seconds(cfg, r.kv_read + r.kv_written)
        t += r.link_s
        if self.policy == "rewrite" and st["overflow"] and r.used_cells:
            t += E.program_time(st["cfg"], r.used_cells * st["overflow"])
        return t

    def _rows_snapshot(self) -> List[_Row]:
        with self._lock:
            return list(self._rows.values())

    # ------------------------------------------------------------------ public results
    def breakdown(self, mode: Optional[str] = None) -> Dict[str, float]:
        """{component: joules} in ``mode`` (default: the config's mode), report order."""
        mode = self._check_mode(mode)
        if not self._rows:
            return {}
        st = self._capacity_state()
        tot: Dict[str, float] = {}
        rows = self._rows_snapshot()
        for r in rows:
            for c, j in self._row_energy(r, mode, st).items():
                _add(tot, c, j)
        if tot and mode == "bottom_up" and hasattr(st["cfg"], "power"):
            seconds = sum(self._row_seconds(r, mode, st) for r in rows)
            tot["static"] = sum(static_energy(st["cfg"], seconds).values())
        return {c: tot[c] for c in E.COMPONENTS if c in tot}

    def static(self, mode: Optional[str] = None) -> Dict[str, float]:
        """Static joules by component (:mod:`torch_photonic.energy.static`) over the metered
        seconds of the config's chips and hosts."""
        mode = self._check_mode(mode)
        if not self._rows or mode == "claim":
            return {}
        st = self._capacity_state()
        seconds = sum(self._row_seconds(r, mode, st) for r in self._rows_snapshot())
        return static_energy(st["cfg"], seconds)

    def total_joules(self, mode: Optional[str] = None) -> Optional[float]:
        mode = self._check_mode(mode)
        if mode == "claim" and self._rows and not self._has_claim():
            return None
        return float(sum(self.breakdown(mode).values()))

    def total_seconds(self, mode: Optional[str] = None) -> Optional[float]:
        mode = self._check_mode(mode)
        if mode == "claim" and self._rows and not self._has_claim():
            return None
        if not self._rows:
            return 0.0
        st = self._capacity_state()
        return float(sum(self._row_seconds(r, mode, st) for r in self._rows_snapshot()))

    @property
    def joules(self) -> float:
        return self.total_joules() or 0.0

    @property
    def seconds(self) -> float:
        return self.total_seconds() or 0.0

    @property
    def macs(self) -> int:
        """All matrix-product MACs recorded (optical, and dynamic ones run on the host)."""
        return int(sum(r.macs for r in self._rows_snapshot()))

    @property
    def optical_macs(self) -> int:
        return int(sum(r.optical_macs for r in self._rows_snapshot()))

    def tops(self, mode: Optional[str] = None) -> Optional[float]:
        j = self.total_joules(mode)
        return (2.0 * self.macs / j / 1e12) if j else None

    @property
    def tops_per_watt(self) -> float:
        """2*MACs / joules / 1e12, everything included (0 when nothing ran)."""
        return self.tops() or 0.0


def meter(config: Any = None, capacity: str = "rewrite",
          resident_cells: Optional[int] = None) -> Meter:
    """A :class:`Meter` to open with ``with`` (nests, thread-safe).

    ``config`` prices host and KV events (default: the config of the products seen); it is
    resolved here, so a bad one fails at this call (``ValueError`` naming ``config``), before
    any work. ``capacity`` is ``"rewrite"`` or ``"chips"``; ``resident_cells`` overrides the
    size of the resident model (e.g. from :func:`torch_photonic.plan`).
    """
    return Meter(config=config, capacity=capacity, resident_cells=resident_cells)
