"""Render a meter report (``Meter.to_dict()`` or a JSON file written by ``Meter.to_json``).

``render(report)`` gives a text table with the ``bottom_up`` and ``claim`` modes in separate
columns; ``plot(report, path)`` writes a PNG (matplotlib, Agg backend) with the energy by
component (both modes) and by layer (bottom-up, stacked by component).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Union

__all__ = ["load", "render", "plot", "validate", "fmt_j", "fmt_s"]

Report = Union[str, os.PathLike, Dict[str, Any]]


def load(report: Report) -> Dict[str, Any]:
    if isinstance(report, dict):
        return report
    with open(report) as fh:
        return json.load(fh)


def validate(report: Report) -> None:
    """Validate against torch_photonic/data/meter_schema.json (needs ``jsonschema``)."""
    import jsonschema
    from .schema import SCHEMA_PATH
    with open(SCHEMA_PATH) as fh:
        schema = json.load(fh)
    jsonschema.validate(load(report), schema)


def _eng(x: float, unit: str) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return f"0 {unit}"
    for f, p in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"),
                 (1e-15, "f"), (1e-18, "a")):
        if abs(x) >= f:
            return f"{x / f:.4g} {p}{unit}"
    return f"{x:.3g} {unit}"


def fmt_j(x: float) -> str:
    return _eng(x, "J")


def fmt_s(x: float) -> str:
    return _eng(x, "s")


def render(report: Report, top_layers: int = 15) -> str:
    d = load(report)
    bu, cl = d["modes"].get("bottom_up"), d["modes"].get("claim")
    lines = [f"torch_photonic meter  config={d.get('config')}  mode={d.get('mode')}  "
             f"MACs={d['macs']:.4g} (optical {d['optical_macs']:.4g})"
             + (f"  tokens={d['tokens']}" if d.get("tokens") else "")]
    w = 14
    lines.append(f"{'':<16}{'bottom_up':>{w}}{'claim':>{w}}")
    comps = list((bu or {}).get("breakdown", {}))
    for c in (cl or {}).get("breakdown", {}):
        if c not in comps:
            comps.append(c)

    def cell(mode, key=None, comp=None):
        if mode is None:
            return "(no claim)"
        v = mode["breakdown"].get(comp, 0.0) if comp else mode[key]
        return v

    for c in comps:
        b = cell(bu, comp=c) if bu else None
        k = cell(cl, comp=c) if cl else "(no claim)"
        lines.append(f"  {c:<14}{fmt_j(b) if b is not None else 'n/a':>{w}}"
                     f"{k if isinstance(k, str) else fmt_j(k):>{w}}")
    lines.append(f"  {'total':<14}{fmt_j(bu['joules']) if bu else 'n/a':>{w}}"
                 f"{fmt_j(cl['joules']) if cl else '(no claim)':>{w}}")
    lines.append(f"  {'time':<14}{fmt_s(bu['seconds']) if bu else 'n/a':>{w}}"
                 f"{fmt_s(cl['seconds']) if cl else '(no claim)':>{w}}")

    def tpw(m):
        return "n/a" if not m or not m.get("tops_per_watt") else f"{m['tops_per_watt']:.4g}"
    lines.append(f"  {'TOPS/W':<14}{tpw(bu):>{w}}{tpw(cl) if cl else '(no claim)':>{w}}")
    if d.get("tokens") and bu:
        lines.append(f"  {'J/token':<14}{fmt_j(bu['joules'] / d['tokens']):>{w}}"
                     f"{fmt_j(cl['joules'] / d['tokens']) if cl else '(no claim)':>{w}}")
    cap = d.get("capacity")
    if cap and cap.get("capacity_cells"):
        lines.append(f"capacity: resident {cap['resident_cells']:.4g} cells, "
                     f"{cap['chips']} chip(s) hold {cap['capacity_cells']:.4g}; "
                     f"chips needed {cap['chips_needed']}; fits={cap['fits']}")
        if not cap["fits"]:
            what = "charged" if cap["charged"] else "not charged (policy 'chips')"
            lines.append(f"  rewrites: {cap['rewrite_cells']:.4g} cells, "
                         f"{fmt_j(cap['rewrite_joules'])}, {fmt_s(cap['rewrite_seconds'])} "
                         f"({what})" + (f"; wear-out in {cap['wear_hours']:.3g} h"
                                        if cap.get("wear_hours") else ""))
    if bu and bu["layers"]:
        layers = sorted(bu["layers"], key=lambda r: -r["total_joules"])[:top_layers]
        lines.append(f"top {len(layers)} layers (bottom_up):")
        lines.append(f"  {'module':<40}{'op':<12}{'MACs':>11}{'joules':>12}{'seconds':>12}")
        for r in layers:
            lines.append(f"  {r['module'][-40:]:<40}{r['op'][:11]:<12}{r['macs']:>11.4g}"
                         f"{fmt_j(r['total_joules']):>12}{fmt_s(r['seconds']):>12}")
    return "\n".join(lines)


def plot(report: Report, path: str, top_layers: int = 20) -> str:
    d = load(report)
    d_dir = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(d_dir):
        raise FileNotFoundError(f"cannot write {path!r}: directory {d_dir!r} does not exist")
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from .model import COMPONENTS

    fig = Figure(figsize=(12, 5.5))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1, 1.6]))
    modes = [(m, d["modes"].get(m)) for m in ("bottom_up", "claim")]
    comps = [c for c in COMPONENTS if any(v and c in v["breakdown"] for _, v in modes)]
    colors = {c: f"C{i}" for i, c in enumerate(COMPONENTS)}
    xs = range(len(comps))
    width = 0.4
    for i, (m, v) in enumerate(modes):
        if not v:
            continue
        ax1.bar([x + (i - 0.5) * width for x in xs], [v["breakdown"].get(c, 0) for c in comps],
                width, label=m, hatch=None if m == "bottom_up" else "//", alpha=0.85)
    ax1.set_xticks(list(xs))
    ax1.set_xticklabels(comps, rotation=30, ha="right")
    ax1.set_ylabel("joules")
    ax1.set_yscale("symlog", linthresh=max(1e-18, min([v for _, m in modes if m
                                                      for v in m["breakdown"].values() if v > 0]
                                                     or [1e-12])))
    ax1.set_title("energy by component")
    ax1.legend()
    bu = d["modes"].get("bottom_up")
    if bu and bu["layers"]:
        layers = sorted(bu["layers"], key=lambda r: -r["total_joules"])[:top_layers][::-1]
        labels = [f"{r['module'][-28:]} {r['op']}" for r in layers]
        left = [0.0] * len(layers)
        for c in COMPONENTS:
            vals = [r["joules"].get(c, 0.0) for r in layers]
            if any(vals):
                ax2.barh(range(len(layers)), vals, left=left, color=colors[c], label=c)
                left = [a + b for a, b in zip(left, vals)]
        ax2.set_yticks(range(len(layers)))
        ax2.set_yticklabels(labels, fontsize=7)
        ax2.set_xlabel("joules (bottom_up)")
        ax2.legend(fontsize=7)
    ax2.set_title(f"energy by layer (top {top_layers})")
    fig.suptitle(f"torch_photonic meter: {d.get('config')}")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=90)
    return path
