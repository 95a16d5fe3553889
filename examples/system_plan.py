"""What DeepSeek-V3 costs per token on photonic chips, next to GPUs doing the same work.

Runs the system plan (``tp.plan``: static and dynamic energy, critical-path latency, links,
KV tiers, rewrites, utilisation, cost, wear-out; docs/energy_model.md) for the 671B DeepSeek-V3
(built on the meta device, no weight memory) decoding at a 4,096-token context:

* a batch sweep (1 to 1024) on ``glass-pcm-200mm`` with the chips that hold the weights, next
  to H100s at bf16 and at fp8;
* the same chip with one panel (weights rewritten every step), and every preset at batch 1;
* "zero static power": the panel with every static term off.

Writes ``docs/system_plan.json`` and ``docs/system_sweep.png``, prints the README's table, and
with ``--write`` regenerates the README's "Honest numbers" system block and the worked example of
docs/energy_model.md from the same numbers (about a minute on 2 cores).

    python examples/system_plan.py [--context 4096] [--write]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import time

import torch_photonic as tp
from torch_photonic.energy import system_report
from torch_photonic.energy.report import fmt_j, fmt_s
from torch_photonic.models import deepseek

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "deepseek-v3"
PRESET = "glass-pcm-200mm"
OTHERS = ("silicon-photonic-128", "pcm-tensor-core-2021")
ZERO_STATIC = dict(power__laser_idle_fraction=0.0, power__driver_w=0.0, power__receiver_w=0.0,
                   power__clock_w=0.0, power__control_w=0.0, power__host_idle_w=0.0)


def _slim(p):
    """A plan named after the built-in model."""
    return dict(p, model=MODEL)


def collect(context: int):
    model = deepseek.build_deepseek(MODEL, device="meta")
    out = dict(model=MODEL, preset=PRESET, context=context,
               params=deepseek.count_parameters(model),
               layers=int(model.config.num_hidden_layers))
    out["sweep"] = [_slim(p) for p in tp.energy.sweep(model, PRESET, context=context)]
    out["sweep_fp8_gpu"] = [_slim(p)["gpu"] for p in tp.energy.sweep(
        model, PRESET, context=context, gpu_dtype="fp8")]
    out["one_chip"] = _slim(tp.plan(model, PRESET, batch=1, context=context, chips=1))
    out["zero_static"] = [_slim(tp.plan(model, PRESET, batch=b, context=context, **ZERO_STATIC))
                          for b in (1, 1024)]
    out["presets"] = {name: _slim(tp.plan(model, name, batch=1, context=context, gpu=None))
                      for name in OTHERS}
    return out


def _usd(x):
    return "-" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:.3g}")


def readme_block(d) -> str:
    sw = {p["batch"]: p for p in d["sweep"]}
    fp8 = {p["batch"]: g for p, g in zip(d["sweep"], d["sweep_fp8_gpu"])}
    b1, b1k = sw[1], sw[max(sw)]
    one, z1, z1k = d["one_chip"], d["zero_static"][0], d["zero_static"][1]
    st = b1["static_watts"]
    tot_w = sum(st.values())
    lines = [
        f"* **DeepSeek-V3 per token, system level** (`examples/system_plan.py`, "
        f"`torch-photonic plan deepseek-v3 --batch B --context {d['context']} --json`; derivation "
        f"step by step in `docs/energy_model.md`; numbers in `docs/system_plan.json`, plot "
        f"`docs/system_sweep.png`). 671B parameters, decode at a {d['context']:,}-token context, "
        f"on **{b1['chips']:,} `{PRESET}` panels** (what holds every weight) with "
        f"{b1['hosts']} H100-class hosts running attention and holding the KV cache, next to "
        f"H100s doing the same work (same model, batch and context; weights and KV cache in "
        f"HBM; a roofline on this project's measured H100 efficiencies):",
        "",
        "  | batch | J/token (static + dynamic) | s/token | tokens/s | tile use | $/M tokens "
        "| H100 bf16: GPUs, J/token, s/token, $/M | H100 fp8: J/token, $/M |",
        "  |---|---|---|---|---|---|---|---|",
    ]
    for b, p in sw.items():
        g, g8 = p["gpu"], fp8[b]
        lines.append(
            f"  | {b} | {fmt_j(p['joules_per_token'])} ({fmt_j(p['joules_per_token_static'])} + "
            f"{fmt_j(p['joules_per_token_dynamic'])}) | {fmt_s(p['latency_s_per_token'])} | "
            f"{p['tokens_per_s']:,.0f} | {p['utilization']:.1e} | "
            f"{_usd(p['usd_per_million_tokens'])} | {g['gpus_needed']}, "
            f"{fmt_j(g['joules_per_token'])}, {fmt_s(g['latency_s_per_token'])}, "
            f"{_usd(g['usd_per_million_tokens'])} | {fmt_j(g8['joules_per_token'])}, "
            f"{_usd(g8['usd_per_million_tokens'])} |")
    order = sorted(st, key=lambda k: -st[k])
    lines += [
        "",
        f"  Static power decides it. The {b1['chips']:,} panels and their hosts draw "
        f"{tot_w / 1e6:.3g} MW while on: "
        + ", ".join(f"{k} {st[k] / 1e6:.3g} MW" if st[k] >= 1e5 else f"{k} {st[k] / 1e3:.3g} kW"
                    for k in order if st[k] > 0)
        + ". The lasers are the photon budget's (34.7 kW optical per panel) held at threshold "
        "between passes (10% of their wall power); the modulator drivers are 5 mW into each of "
        "316,416 terminated electrodes per panel. A batch-1 token takes "
        f"{fmt_s(b1['latency_s_per_token'])} (host ops {fmt_s(b1['by_stage']['host'])}, links "
        f"{fmt_s(b1['by_stage']['interconnect'])}, KV reads {fmt_s(b1['by_stage']['kv'])}, "
        f"optics and converters {fmt_s(b1['by_stage']['optics'] + b1['by_stage']['converters'])}), "
        f"so each token carries {fmt_j(b1['joules_per_token_static'])} of static energy against "
        f"{fmt_j(b1['joules_per_token_dynamic'])} of work (host attention "
        f"{fmt_j(b1['by_component']['dynamic']['host'])}, KV "
        f"{fmt_j(b1['by_component']['dynamic']['kv'])}, laser "
        f"{fmt_j(b1['by_component']['dynamic']['laser'])}). Batching shares the static power: "
        f"at batch {b1k['batch']} the panel serves {b1k['tokens_per_s']:,.0f} tokens/s at "
        f"{fmt_j(b1k['joules_per_token'])}/token. The tiles stay almost idle "
        f"(use {b1k['utilization']:.1e} at batch {b1k['batch']}): decode is bound by the "
        f"electronic host, the links and the launch of its ops, not by the optics.",
        f"* **\"Zero static power\"** (the vendor's claim) holds only if the lasers switch fully "
        f"off between passes, drivers and receivers are power-gated, there are no resonators to "
        f"hold and the hosts are left out. Under that assumption the same system costs "
        f"{fmt_j(z1['joules_per_token'])}/token and ${_usd(z1['usd_per_million_tokens'])} per "
        f"million tokens at batch 1 ({fmt_j(z1k['joules_per_token'])} and "
        f"${_usd(z1k['usd_per_million_tokens'])} at batch {z1k['batch']}): less energy than the "
        f"H100s ({fmt_j(b1['gpu']['joules_per_token'])} at batch 1), but the "
        f"${b1['cost']['system_usd'] / 1e6:,.0f} M of hardware "
        f"(${b1['cost']['chip_usd']['total']:,.0f} per panel, "
        f"${b1['cost']['chip_usd']['lasers']:,.0f} of it lasers) has to be paid off by the "
        f"tokens it serves.",
        f"* **One panel instead of {b1['chips']:,}**: every step rewrites "
        f"{one['rewrite_cells_per_step']:.3g} cells after fetching their weights from host DRAM: "
        f"{fmt_s(one['latency_s_per_token'])} and {fmt_j(one['joules_per_token'])} per token "
        f"(rewrite {fmt_j(one['by_component']['dynamic']['pcm_rewrite'])}, fetch "
        f"{fmt_j(one['by_component']['dynamic']['weight_fetch'])}), and the cells wear out after "
        f"{one['wear_out_tokens']:,.0f} tokens ({one['wear_out_hours']:.2g} h).",
    ]
    others = []
    for name, p in d["presets"].items():
        others.append(f"`{name}` needs {p['chips']:,} chips and {fmt_j(p['joules_per_token'])}"
                      f"/token ({fmt_s(p['latency_s_per_token'])}/token)")
    lines.append("* **The other presets at batch 1**: " + "; ".join(others) + ".")
    return "\n".join(lines)


def worked_example(d) -> str:
    """The worked example of docs/energy_model.md: batch 1, every figure from its inputs."""
    cfg = tp.preset(PRESET)
    p = next(x for x in d["sweep"] if x["batch"] == 1)
    a, pw, o = cfg.array, cfg.power, cfg.optics
    inputs = a.tiles_per_chip * a.tile_rows
    laser_w = o.laser_power_w / o.wall_plug_efficiency
    st = p["static_watts"]
    g = p["gpu"]
    ch = p["cost"]["chip_usd"]
    L = [
        f"Generated by `python examples/system_plan.py --write` from `tp.plan(\"{MODEL}\", "
        f"\"{PRESET}\", batch=1, context={d['context']})`.",
        "",
        f"1. **Chips.** {p['weights']:,} optical weights x {a.cells_per_weight} cells = "
        f"{p['cells_needed']:,} cells; {p['tiles_needed']:,} tiles of {a.tile_rows}x{a.tile_cols} "
        f"at {a.tiles_per_chip} per panel -> {p['chips']:,} panels; one host per "
        f"{pw.chips_per_host} -> {p['hosts']} hosts.",
        f"2. **Static watts per panel.** Laser: {o.laser_power_w:.3g} W optical / "
        f"{o.wall_plug_efficiency} = {laser_w:,.0f} W wall, x {pw.laser_idle_fraction} idle = "
        f"{laser_w * pw.laser_idle_fraction:,.0f} W. Drivers: {inputs:,} modulators x "
        f"{pw.driver_w * 1e3:g} mW = {inputs * pw.driver_w:,.0f} W. Receivers: "
        f"{a.tiles_per_chip * a.tile_cols:,} x {pw.receiver_w * 1e3:g} mW = "
        f"{a.tiles_per_chip * a.tile_cols * pw.receiver_w:,.0f} W. Clock {pw.clock_w:g} W, "
        f"control {pw.control_w:g} W. System: x {p['chips']:,} panels + {p['hosts']} hosts x "
        f"{pw.host_idle_w} W = {sum(st.values()) / 1e6:.4g} MW.",
        f"3. **Latency of one token** (batch 1: no pipelining), summed over the "
        f"{d['layers']} layers and the head: "
        + ", ".join(f"{k} {fmt_s(v)}" for k, v in p["by_stage"].items() if v)
        + f" = {fmt_s(p['latency_s_per_token'])}. Host: {cfg.host.op_overhead_s * 1e6:g} us per "
        f"op x 9-11 ops per layer dominates; links: 2 host round trips per layer, MoE dispatch "
        f"and combine where a layer spans panels, one hop to the next layer's panel, "
        f"{cfg.interconnect.latency_s * 1e6:g} us each.",
        f"4. **Static energy per token** = {sum(st.values()) / 1e6:.4g} MW x "
        f"{fmt_s(p['latency_s_per_token'])} / 1 token = {fmt_j(p['joules_per_token_static'])}.",
        f"5. **Dynamic energy per token**: "
        + ", ".join(f"{k} {fmt_j(v)}" for k, v in p["by_component"]["dynamic"].items() if v)
        + f" = {fmt_j(p['joules_per_token_dynamic'])}.",
        f"6. **Cost.** A panel: substrate ${ch['substrate']:,.0f} + CMOS {ch['cmos_mm2']:,.0f} "
        f"mm2 x ${cfg.cost.cmos_usd_per_mm2} = ${ch['cmos']:,.0f} + lasers "
        f"{o.laser_power_w:,.0f} W x ${cfg.cost.laser_usd_per_w:g}/W = ${ch['lasers']:,.0f}; "
        f"system ${p['cost']['system_usd']:,.0f}. Served over {cfg.cost.amortization_years:g} "
        f"years at {cfg.cost.utilization:g} utilisation and {p['tokens_per_s']:.4g} tokens/s: "
        f"${_usd(p['cost']['owning'])} per million tokens; electricity "
        f"{fmt_j(p['joules_per_token'])} x PUE {cfg.cost.pue} x ${cfg.cost.usd_per_kwh}/kWh: "
        f"${_usd(p['cost']['electricity'])}; total ${_usd(p['usd_per_million_tokens'])}.",
        f"7. **The GPU at the same work** ({g['name']}, {g['dtype']}): weights "
        f"{g['weights_bytes'] / 1e9:,.0f} GB + KV {g['kv_bytes'] / 1e9:.3g} GB over 0.9 x 80 GB "
        f"-> {g['gpus_needed']} GPUs; the step is {g['bound']}-bound: max(compute "
        f"{fmt_s(g['by_stage']['compute'])}, memory {fmt_s(g['by_stage']['memory'])}) + launch "
        f"{fmt_s(g['by_stage']['launch'])} + interconnect {fmt_s(g['by_stage']['interconnect'])} "
        f"= {fmt_s(g['latency_s_per_token'])}; {g['watts']:.0f} W each -> "
        f"{fmt_j(g['joules_per_token'])}/token, ${_usd(g['usd_per_million_tokens'])} per million "
        f"tokens.",
    ]
    return "\n".join(L)


def _replace_block(path: str, tag: str, text: str) -> None:
    with open(path, encoding="utf-8") as fh:
        s = fh.read()
    pat = re.compile(rf"(<!-- {tag}:begin -->\n).*?(<!-- {tag}:end -->)", re.S)
    if not pat.search(s):
        raise SystemExit(f"{path}: no <!-- {tag}:begin/end --> markers")
    s = pat.sub(lambda m: m.group(1) + text + "\n" + m.group(2), s)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--context", type=int, default=4096)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"))
    ap.add_argument("--write", action="store_true",
                    help="regenerate the README block and docs/energy_model.md's worked example")
    a = ap.parse_args()
    t0 = time.time()
    d = collect(a.context)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "system_plan.json"), "w") as fh:
        json.dump(d, fh, indent=1, default=lambda o: None)
        fh.write("\n")
    system_report.plot_sweep(d["sweep"], os.path.join(a.out, "system_sweep.png"))
    print(system_report.format_sweep(d["sweep"]))
    print()
    block = readme_block(d)
    print(block)
    if a.write:
        _replace_block(os.path.join(ROOT, "README.md"), "system-plan", block)
        _replace_block(os.path.join(ROOT, "docs", "energy_model.md"), "worked-example",
                       worked_example(d))
        print("\nwrote README.md and docs/energy_model.md")
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
