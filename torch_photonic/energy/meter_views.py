"""Read-outs of a :class:`~torch_photonic.energy.meter.Meter`: the views and reports.

The meter (``meter.py``) accumulates events and prices them (``breakdown``, ``total_joules``,
``total_seconds``); :class:`MeterViews`, which :class:`Meter` inherits, turns those totals into
the views a user reads: per layer, per token, capacity and wear, the GPU comparison,
electricity cost, and the report (``to_dict``/``to_json``, ``summary``, ``plot``). It keeps no
state of its own; it uses the meter's rows (``_rows``, ``_rows_snapshot``), capacity state
(``_capacity_state``, ``_row_energy``, ``_row_seconds``), totals and ``mode``.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Optional

from . import model as E
from .schema import SCHEMA_VERSION

MODES = ("bottom_up", "claim")


class MeterViews:
    """Views and reports of a meter; mixed into :class:`~torch_photonic.energy.meter.Meter`."""

    def per_layer(self, mode: Optional[str] = None) -> List[Dict[str, Any]]:
        """Rows: module, op, calls, macs, joules by component, total joules, seconds."""
        mode = self._check_mode(mode)
        if not self._rows:
            return []
        st = self._capacity_state()
        out = []
        for r in self._rows_snapshot():
            j = self._row_energy(r, mode, st)
            out.append(dict(module=r.module, op=r.op, calls=r.calls, macs=int(r.macs),
                            joules={c: j[c] for c in E.COMPONENTS if c in j},
                            total_joules=float(sum(j.values())),
                            seconds=self._row_seconds(r, mode, st)))
        return out

    def per_token(self, n_tokens: int) -> Dict[str, Any]:
        """Joules and seconds per token in both modes (remembers ``n_tokens`` for cost/wear)."""
        if isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, float)) \
                or not n_tokens > 0 or not math.isfinite(n_tokens):
            raise ValueError(f"per_token needs a positive token count, got {n_tokens!r}")
        self.tokens = n_tokens
        out: Dict[str, Any] = dict(tokens=n_tokens, mode=self.mode)
        for mode in MODES:
            j, s = self.total_joules(mode), self.total_seconds(mode)
            out[mode] = dict(joules=None if j is None else j / n_tokens,
                             seconds=None if s is None else s / n_tokens,
                             tokens_per_s=(n_tokens / s) if s else None)
        out["joules"] = out[self.mode]["joules"]
        out["seconds"] = out[self.mode]["seconds"]
        return out

    def _tokens(self, n_tokens: Optional[float]) -> float:
        n = n_tokens if n_tokens is not None else self.tokens
        if n is None:
            raise ValueError("token count unknown: pass n_tokens=... or call per_token(n) first")
        if not n > 0:
            raise ValueError(f"token count must be positive, got {n!r}")
        return float(n)

    def capacity(self, n_tokens: Optional[float] = None) -> Dict[str, Any]:
        """Resident cells vs the configured chips: chips needed, rewrites, wear."""
        if not self._rows and self.resident_cells is None:
            return dict(fits=True, policy=self.policy, resident_cells=0)
        st = self._capacity_state()
        cfg = st["cfg"]
        used = sum(r.used_cells for r in self._rows_snapshot())
        rewrite_cells = used * st["overflow"]
        out: Dict[str, Any] = dict(
            policy=self.policy, resident_cells=st["resident"], capacity_cells=st["cap"],
            chips=int(E._get(cfg, "chips")), chips_needed=st["chips_needed"],
            fits=st["overflow"] == 0.0, cells_read=int(used),
            rewrite_cells=float(rewrite_cells),
            rewrite_joules=E.program_energy(cfg, rewrite_cells),
            rewrite_seconds=E.program_time(cfg, rewrite_cells),
            charged=self.policy == "rewrite" and rewrite_cells > 0,
            endurance_cycles=float(cfg.pcm.endurance_cycles),
            area_mm2_needed=st["chips_needed"] * float(cfg.array.chip_area_mm2))
        secs = self.total_seconds("bottom_up") or 0.0
        if rewrite_cells and secs > 0:
            # writes spread evenly over every physical cell (wear levelling)
            writes_per_cell_per_s = rewrite_cells / secs / st["cap"]
            out["wear_hours"] = float(cfg.pcm.endurance_cycles) / writes_per_cell_per_s / 3600.0
        else:
            out["wear_hours"] = None
        n = n_tokens if n_tokens is not None else self.tokens
        if n:
            out["tokens"] = n
            out["rewrite_cells_per_token"] = rewrite_cells / n
            out["full_rewrites_per_token"] = rewrite_cells / n / st["cap"]
            # tokens until the average cell reaches its endurance (wear levelling)
            out["wear_out_tokens"] = (float(cfg.pcm.endurance_cycles) * st["cap"]
                                      / (rewrite_cells / n)) if rewrite_cells else None
            out["tokens_per_s"] = (n / secs) if secs else None
        return out

    def compare(self, gpu: str = "h100") -> Dict[str, Any]:
        """The same work (2 FLOP per MAC, plus host FLOPs) on a GPU baseline, as ratios.

        ``ratio_energy`` = GPU joules / photonic joules (> 1: the photonic chip uses less).
        Measured cases (H100 only) and datasheet peaks are listed apart.
        """
        from . import baselines
        entry = baselines.get(gpu)   # ValueError listing the known names
        flops = 2.0 * self.macs + sum(r.host_flops for r in self._rows_snapshot())
        rows = sum(r.rows for r in self._rows_snapshot())
        calls = sum(r.calls for r in self._rows_snapshot() if r.macs)
        regime = baselines.regime_for_rows(rows / calls if calls else 1)
        phot = {m: (self.total_joules(m), self.total_seconds(m)) for m in MODES}

        def row(kind, label, tfj, tfs, src):
            gj = flops / (tfj * 1e12) if tfj else None
            gs = flops / (tfs * 1e12) if tfs else None
            r = dict(kind=kind, case=label, tflop_per_joule=tfj, gpu_joules=gj, gpu_seconds=gs,
                     source=src)
            for m in MODES:
                pj, ps = phot[m]
                r[f"ratio_energy_{m}"] = (gj / pj) if (gj and pj) else None
                r[f"ratio_time_{m}"] = (gs / ps) if (gs and ps) else None
            return r

        out_rows = []
        meas = entry.get("measured")
        for c in baselines.measured_cases(gpu):
            out_rows.append(row("measured", c["case"], c["tflop_per_joule"], c["tflop_per_s"],
                                meas["provenance"]))
        for p in baselines.datasheet_peaks(gpu):
            out_rows.append(row("datasheet", f"{p['dtype']} peak", p["tflop_per_joule"],
                                p["tflops"], p["source"]))
        best = baselines.best_measured(gpu, regime) if meas else None
        return dict(gpu=entry["name"], flops=flops, regime=regime,
                    matched=(best["case"] if best else None),
                    photonic_joules={m: phot[m][0] for m in MODES},
                    rows=out_rows,
                    ratio_energy=(row("measured", best["case"], best["tflop_per_joule"],
                                      best["tflop_per_s"], "")["ratio_energy_" + self.mode]
                                  if best else None))

    def cost(self, price_per_kwh: float, pue: float = 1.2,
             n_tokens: Optional[float] = None) -> Dict[str, Any]:
        """Electricity cost per million tokens (facility energy = IT energy x PUE), and the
        owning cost of the config's chips and hosts (``cfg.cost``: price, amortisation,
        utilisation) at the token rate the meter saw (``owning_per_million_tokens``;
        :func:`torch_photonic.energy.cost.usd_per_million_tokens`). ``tp.plan`` prices a
        system at scale."""
        if not price_per_kwh >= 0 or not pue >= 1.0:
            raise ValueError(f"need price_per_kwh >= 0 and pue >= 1, got {price_per_kwh}, {pue}")
        n = self._tokens(n_tokens)
        out: Dict[str, Any] = dict(price_per_kwh=price_per_kwh, pue=pue, tokens=n)
        for m in MODES:
            j = self.total_joules(m)
            if j is None:
                out[m] = None
                continue
            kwh = j / n * 1e6 * pue / 3.6e6
            out[m] = dict(kwh_per_million_tokens=kwh, cost_per_million_tokens=kwh * price_per_kwh)
        out["cost_per_million_tokens"] = (out[self.mode] or {}).get("cost_per_million_tokens")
        secs = self.total_seconds("bottom_up") or 0.0
        cfg = self._cfg()
        if secs > 0 and hasattr(cfg, "cost"):
            from .cost import usd_per_million_tokens
            own = usd_per_million_tokens(cfg, int(E._get(cfg, "chips")), 0.0, n / secs)
            out["owning_per_million_tokens"] = own["owning"]
            out["total_per_million_tokens"] = (own["owning"] + out["cost_per_million_tokens"]
                                               if out["cost_per_million_tokens"] is not None
                                               else None)
        return out

    # ------------------------------------------------------------------ reports
    def to_dict(self) -> Dict[str, Any]:
        """The report as plain data (the JSON schema: torch_photonic/data/meter_schema.json)."""
        cfg = self.config or self._last_config
        modes: Dict[str, Any] = {}
        for m in MODES:
            j = self.total_joules(m)
            if j is None:
                modes[m] = None
                continue
            modes[m] = dict(joules=j, seconds=self.total_seconds(m), breakdown=self.breakdown(m),
                            tops_per_watt=self.tops(m), layers=self.per_layer(m))
        return dict(
            schema_version=SCHEMA_VERSION,
            config=getattr(cfg, "name", None), mode=self.mode,
            macs=self.macs, optical_macs=self.optical_macs, tokens=self.tokens,
            modes=modes, capacity=self.capacity() if self._rows else None,
        )

    def to_json(self, path: str) -> Dict[str, Any]:
        d = self.to_dict()
        _check_dir(path)
        with open(path, "w") as fh:
            json.dump(d, fh, indent=1, default=float)
        return d

    def summary(self) -> str:
        from .report import render
        return render(self.to_dict())

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<Meter {self.mode}: {self.joules:.4g} J, {self.seconds:.4g} s, "
                f"{self.macs} MACs>")

    def plot(self, path: str, top_layers: int = 20) -> str:
        from .report import plot
        _check_dir(path)
        return plot(self.to_dict(), path, top_layers=top_layers)


def _check_dir(path: str) -> None:
    d = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(d):
        raise FileNotFoundError(f"cannot write {path!r}: directory {d!r} does not exist")
