"""Dry run: what would DeepSeek-V3 (671B, 61 layers, 256 experts top-8, MLA) cost per token
on each photonic preset, next to a measured H100?

The model is built on the meta device (shapes only); the per-token work is analytic
(torch_photonic/deepseek_shapes.py) and replayed into a meter. Prints chips needed, J/token
for batch-1 decode and for prefill, in bottom_up and claim mode, and writes the plot.

    PYTHONPATH=. python examples/deepseek_v3_dry_run.py [--context 4096] [--out out/]
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import torch_photonic as tp
from torch_photonic.energy import baselines
from torch_photonic.models import deepseek_shapes as D
from torch_photonic.energy.report import fmt_j, fmt_s

PRESETS = ("glass-pcm-200mm", "silicon-photonic-128", "pcm-tensor-core-2021")


def measure(work, cfg, resident_cells, capacity="rewrite"):
    with tp.meter(config=cfg, capacity=capacity, resident_cells=resident_cells) as m:
        D.emit(work, cfg)
    m.per_token(work["tokens"])
    return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--context", type=int, default=4096, help="cached tokens at decode")
    ap.add_argument("--prompt", type=int, default=4096, help="prefill length")
    ap.add_argument("--out", default="out", help="directory for the plot and JSON")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()

    model = D.build_meta_model()
    n_params = sum(p.numel() for p in model.parameters())
    dec = D.decode_work(context=a.context)
    pre = D.prefill_work(tokens=a.prompt)
    print(f"DeepSeek-V3 on the meta device: {n_params / 1e9:.1f} B parameters; "
          f"decode {dec['static_macs'] / 1e9:.1f} G weight MACs + {dec['dynamic_macs'] / 1e9:.1f} G "
          f"attention MACs per token at context {a.context}; prefill {a.prompt} tokens")

    h100_b1 = baselines.best_measured("h100", "decode_b1")
    h100_gemm = baselines.best_measured("h100", "gemm")
    flops_dec = 2.0 * dec["macs"]
    flops_pre = 2.0 * pre["macs"] / pre["tokens"]
    print(f"H100 measured [{baselines.get('h100')['measured']['provenance']}]: "
          f"decode ({h100_b1['case']}, {h100_b1['tflop_per_joule']} TFLOP/J) "
          f"{fmt_j(flops_dec / (h100_b1['tflop_per_joule'] * 1e12))}/token; "
          f"prefill ({h100_gemm['case']}, {h100_gemm['tflop_per_joule']} TFLOP/J) "
          f"{fmt_j(flops_pre / (h100_gemm['tflop_per_joule'] * 1e12))}/token "
          f"(matrix FLOPs only)\n")

    hdr = (f"{'preset':<22}{'chips':>12}{'need':>12}{'phase':>9}{'bottom_up J/tok':>17}"
           f"{'claim J/tok':>13}{'s/tok (bu)':>12}{'optics':>11}{'kv':>11}{'host':>11}"
           f"{'rewrite':>11}{'vs H100':>9}")
    print(hdr)
    print("-" * len(hdr))
    plot_meter = None
    for name in PRESETS:
        base = tp.preset(name)
        pl = tp.plan(model, base)
        for chips in (1, pl["chips_needed"]):
            cfg = base.replace(chips=chips)
            for phase, work, h in (("decode", dec, h100_b1), ("prefill", pre, h100_gemm)):
                m = measure(work, cfg, pl["cells_needed"])
                pt = m.per_token(work["tokens"])
                b = m.breakdown("bottom_up")
                optics = sum(b.get(c, 0.0) for c in ("laser", "dac", "adc", "memory"))
                gpu_j = 2.0 * work["macs"] / work["tokens"] / (h["tflop_per_joule"] * 1e12)
                claim = pt["claim"]["joules"]
                print(f"{name:<22}{chips:>12}{pl['chips_needed']:>12}{phase:>9}"
                      f"{fmt_j(pt['bottom_up']['joules']):>17}"
                      f"{fmt_j(claim) if claim is not None else '(none)':>13}"
                      f"{fmt_s(pt['bottom_up']['seconds']):>12}"
                      f"{fmt_j(optics / work['tokens']):>11}"
                      f"{fmt_j(b.get('kv', 0.0) / work['tokens']):>11}"
                      f"{fmt_j(b.get('host', 0.0) / work['tokens']):>11}"
                      f"{fmt_j(b.get('pcm_rewrite', 0.0) / work['tokens']):>11}"
                      f"{gpu_j / pt['bottom_up']['joules']:>8.3g}x")
                if name == "glass-pcm-200mm" and phase == "decode" and chips == pl["chips_needed"]:
                    plot_meter = m
        cap = pl
        wear = (f"; rewrite-bound wear-out {cap['wear_hours']:.3g} h at "
                f"{cap['max_tokens_per_s']:.3g} tok/s" if not cap["fits"] and cap.get("wear_hours")
                else "")
        print(f"  plan: {cap['cells_needed']:.4g} cells, {cap['tiles_needed']} tiles, "
              f"{cap['chips_needed']} chips ({cap['area_mm2_needed'] / 1e6:.3g} m^2); one chip "
              f"holds {cap['capacity_cells']:.3g} cells -> {cap['rewrites_per_token']:.3g} full "
              f"rewrites per decoded token ({fmt_j(cap['rewrite_joules_per_token'])}, "
              f"{fmt_s(cap['rewrite_seconds_per_token'])}){wear}")
        pk, pc = tp.energy.peak(base), tp.energy.peak(base, "claim")
        print(f"  peak: bottom_up {pk['tops_per_watt']:.4g} TOPS/W core "
              f"({pk['tops_per_watt_with_memory']:.4g} with SRAM), {pk['pops']:.4g} POPS/chip; "
              f"claim {pc['tops_per_watt'] or '(none)'} TOPS/W, {pc['pops'] or '(none)'} POPS\n")

    png = os.path.join(a.out, "deepseek_v3_decode_glass.png")
    plot_meter.plot(png)
    plot_meter.to_json(os.path.join(a.out, "deepseek_v3_decode_glass.json"))
    cmp = plot_meter.compare("h100")
    print(f"glass (enough chips) decode vs H100 via meter.compare ({cmp['matched']}; also charges "
          f"the host FLOPs at that rate, unlike the table): "
          f"{cmp['ratio_energy']:.3g}x less energy; cost at $0.10/kWh, PUE 1.2: "
          f"${plot_meter.cost(0.10)['cost_per_million_tokens']:.4g} per million tokens")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"wrote {png}; {time.time() - t0:.1f} s, peak RSS {rss:.2f} GB")


if __name__ == "__main__":
    main()
