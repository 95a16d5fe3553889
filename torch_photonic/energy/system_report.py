"""Text and plots of system plans (:func:`torch_photonic.energy.system.plan`): one plan, a batch
sweep table, and the sweep plot (energy, throughput and cost per token against batch, photonic
next to GPU)."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Sequence

from .report import fmt_j, fmt_s

__all__ = ["format_plan", "format_sweep", "sweep_table", "plot_sweep"]


def _g(x: Any, spec: str = ".3g") -> str:
    if x is None:
        return "-"
    return format(x, spec)


def format_plan(p: Dict[str, Any]) -> str:
    """One plan as readable lines."""
    lines = [f"{p.get('model') or 'model'} on {p['preset']}: batch {p['batch']}, context "
             f"{p['context']}, {p['chips']} chips ({p['chips_needed']} hold the weights"
             f"{'' if p['fits'] else '; weights rewritten every step'}), {p['hosts']} hosts",
             f"  joules/token      {fmt_j(p['joules_per_token'])}  (static "
             f"{fmt_j(p['joules_per_token_static'])}, dynamic {fmt_j(p['joules_per_token_dynamic'])})"]
    for kind in ("static", "dynamic"):
        parts = [f"{c} {fmt_j(v)}" for c, v in p["by_component"][kind].items() if v]
        lines.append(f"    {kind:<8} " + ", ".join(parts))
    lines.append(f"  latency/token     {fmt_s(p['latency_s_per_token'])}  "
                 + ", ".join(f"{s} {fmt_s(v)}" for s, v in p["by_stage"].items() if v))
    lines.append(f"  tokens/s          {_g(p['tokens_per_s'], '.4g')}   utilisation "
                 f"{_g(p['utilization'])}   micro-batches {p['micro_batches']}")
    lines.append(f"  $/M tokens        {_g(p['usd_per_million_tokens'], '.4g')}  (zero static "
                 f"power: {_g(p['zero_static']['usd_per_million_tokens'], '.4g')}; system "
                 f"${_g((p.get('cost') or {}).get('system_usd'), '.4g')})")
    if p.get("wear_out_tokens"):
        lines.append(f"  wear-out          {_g(p['wear_out_tokens'])} tokens "
                     f"({_g(p['wear_out_hours'])} h)")
    g = p.get("gpu")
    if g:
        lines.append(f"  GPU ({g['name']}, {g['dtype']}): {g['gpus_needed']} GPUs, "
                     f"{fmt_j(g['joules_per_token'])}/token, {fmt_s(g['latency_s_per_token'])}"
                     f"/token, {_g(g['tokens_per_s'], '.4g')} tokens/s, "
                     f"${_g(g['usd_per_million_tokens'], '.4g')}/M tokens")
    return "\n".join(lines)


def sweep_table(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The sweep's columns per batch (what the README's table shows)."""
    out = []
    for p in rows:
        g = p.get("gpu") or {}
        out.append(dict(
            batch=p["batch"], chips=p["chips"], joules_per_token=p["joules_per_token"],
            joules_per_token_static=p["joules_per_token_static"],
            joules_per_token_dynamic=p["joules_per_token_dynamic"],
            latency_s_per_token=p["latency_s_per_token"], tokens_per_s=p["tokens_per_s"],
            utilization=p["utilization"], usd_per_million_tokens=p["usd_per_million_tokens"],
            usd_per_million_tokens_zero_static=p["zero_static"]["usd_per_million_tokens"],
            gpu_name=g.get("name"), gpus_needed=g.get("gpus_needed"),
            gpu_joules_per_token=g.get("joules_per_token"),
            gpu_latency_s_per_token=g.get("latency_s_per_token"),
            gpu_tokens_per_s=g.get("tokens_per_s"),
            gpu_usd_per_million_tokens=g.get("usd_per_million_tokens")))
    return out


def format_sweep(rows: Sequence[Dict[str, Any]]) -> str:
    """The batch sweep as a text table."""
    if not rows:
        return "(no plans)"
    p0 = rows[0]
    head = (f"{p0.get('model') or 'model'} on {p0['preset']}, context {p0['context']}, "
            f"{p0['chips']} chips")
    hdr = (f"{'batch':>6} {'J/token':>10} {'static':>10} {'dynamic':>10} {'s/token':>10} "
           f"{'tokens/s':>10} {'util':>9} {'$/Mtok':>9} {'$/Mtok 0-st':>11} | {'GPUs':>5} "
           f"{'GPU J/tok':>10} {'GPU s/tok':>10} {'GPU tok/s':>10} {'GPU $/Mtok':>10}")
    lines = [head, hdr, "-" * len(hdr)]
    for r in sweep_table(rows):
        lines.append(
            f"{r['batch']:>6} {fmt_j(r['joules_per_token']):>10} "
            f"{fmt_j(r['joules_per_token_static']):>10} {fmt_j(r['joules_per_token_dynamic']):>10} "
            f"{fmt_s(r['latency_s_per_token']):>10} {_g(r['tokens_per_s'], '.4g'):>10} "
            f"{_g(r['utilization'], '.2e'):>9} {_g(r['usd_per_million_tokens'], '.4g'):>9} "
            f"{_g(r['usd_per_million_tokens_zero_static'], '.4g'):>11} | "
            f"{_g(r['gpus_needed'], 'd') if r['gpus_needed'] is not None else '-':>5} "
            f"{fmt_j(r['gpu_joules_per_token']) if r['gpu_joules_per_token'] else '-':>10} "
            f"{fmt_s(r['gpu_latency_s_per_token']) if r['gpu_latency_s_per_token'] else '-':>10} "
            f"{_g(r['gpu_tokens_per_s'], '.4g'):>10} {_g(r['gpu_usd_per_million_tokens'], '.4g'):>10}")
    return "\n".join(lines)


def plot_sweep(rows: Sequence[Dict[str, Any]], path: str) -> str:
    """Joules, tokens/s and $ per million tokens against batch (log-log), photonic (total and
    with zero static power) next to the GPU. Returns ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise ValueError(f"path: directory {d!r} does not exist")
    t = sweep_table(rows)
    b = [r["batch"] for r in t]
    p0 = rows[0]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    series = (
        (0, "joules_per_token", "joules_per_token_dynamic", "gpu_joules_per_token", "J per token"),
        (1, "tokens_per_s", None, "gpu_tokens_per_s", "tokens per second"),
        (2, "usd_per_million_tokens", "usd_per_million_tokens_zero_static",
         "gpu_usd_per_million_tokens", "$ per million tokens"),
    )
    gname = t[0]["gpu_name"] or "GPU"
    for i, key, zero, gkey, label in series:
        a = ax[i]
        a.plot(b, [r[key] for r in t], "o-", color="C0", label=p0["preset"])
        if zero:
            a.plot(b, [r[zero] for r in t], "o--", color="C0", alpha=0.6,
                   label=f"{p0['preset']}, zero static power")
        if any(r[gkey] for r in t):
            a.plot(b, [r[gkey] for r in t], "s-", color="C3", label=gname)
        a.set_xscale("log", base=2)
        a.set_yscale("log")
        a.set_xlabel("batch (sequences decoded at once)")
        a.set_title(label)
        a.grid(True, which="both", alpha=0.3)
    ax[0].legend(fontsize=8)
    fig.suptitle(f"{p0.get('model') or 'model'}: decode at context {p0['context']} on "
                 f"{p0['chips']} chips of {p0['preset']} vs {gname}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
