"""PhotonicLinear vs nn.Linear (float32, CPU), programming and drift cost, memory per weight.

    PYTHONPATH=. python bench/mvm.py [--preset glass-pcm-200mm] [--reps 5] [--quick]

Rows: layer shape, batch; columns: nn.Linear time, photonic noise-off time and ratio (exact
path: every non-ideality off), photonic time and ratio with every effect of the preset on (level
rounding, programming noise, drift and 1/f read noise at one day, per-tile DAC, shot noise with
its common-mode light, receiver noise, ADC, bound management), and the same with the digital
weight released (``tp.program(..., release_weights=True)``: no common-mode copy, each tile's
common-mode cells converted as it is read). Targets (the speed and memory
budget of PhotonicLinear): noise off <= 1.2x at batch >= 64, every effect on <= 1.5x at 4096x4096
batch 64, <= 8 bytes per programmed weight, <= 20 ns per weight to program or to age.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import torch
from torch import nn

import torch_photonic as tp
from torch_photonic.hardware.effects import ideal_of
from torch_photonic.optics import kernels as optical

AGE_S = 86400.0  # one day after programming


def timeit(fn, reps):
    fn()  # warm-up (and calibration)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="glass-pcm-200mm")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller shapes (smoke test)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--init", choices=("llm", "default"), default="llm",
                    help="weights N(0, 0.02) as in trained LLM layers (default), or nn.Linear's "
                         "uniform init (larger partial sums: the ADC clips more and bound "
                         "management reads most tiles twice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    noisy = tp.preset(args.preset)
    exact = ideal_of(noisy)
    shapes = [(4096, 4096), (7168, 2048)] if not args.quick else [(1024, 1024)]
    batches = [1, 64, 512]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, preset {args.preset}")
    print(f"{'in->out':>11} {'batch':>5} {'nn.Linear':>10} {'noise off':>10} {'ratio':>6} "
          f"{'noise on':>10} {'ratio':>6} {'released':>10} {'ratio':>6}")
    worst_off, worst_on = 0.0, 0.0
    for k, n in shapes:
        lin = nn.Linear(k, n)
        if args.init == "llm":
            nn.init.normal_(lin.weight, std=0.02)
        p_off = tp.PhotonicLinear.from_linear(lin, exact, name="off")
        p_on = tp.PhotonicLinear.from_linear(lin, noisy, name="on")
        tp.age(p_on, AGE_S)
        p_rel = tp.PhotonicLinear.from_linear(copy.deepcopy(lin), noisy, name="released")
        tp.program(p_rel, release_weights=True)
        tp.age(p_rel, AGE_S)
        for b in batches:
            x = torch.randn(b, k)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_ref = timeit(lambda: lin(x), args.reps)
                t_off = timeit(lambda: p_off(x), args.reps)
                t_on = timeit(lambda: p_on(x), args.reps)
                t_rel = timeit(lambda: p_rel(x), args.reps)
            r_off, r_on, r_rel = t_off / t_ref, t_on / t_ref, t_rel / t_ref
            if b >= 64:
                worst_off = max(worst_off, r_off)
            if (k, n, b) == (4096, 4096, 64) or args.quick:
                worst_on = max(worst_on, r_on)
            print(f"{k:>5}->{n:<5} {b:>5} {t_ref * 1e3:>8.2f}ms {t_off * 1e3:>8.2f}ms "
                  f"{r_off:>5.2f}x {t_on * 1e3:>8.2f}ms {r_on:>5.2f}x {t_rel * 1e3:>8.2f}ms "
                  f"{r_rel:>5.2f}x")
        c = p_on.state.clips
        print(f"  bytes per programmed weight: noise off {p_off.state.bytes_per_weight():.2f}, "
              f"noise on {p_on.state.bytes_per_weight():.2f}, released "
              f"{p_rel.state.bytes_per_weight():.2f}; ADC clip rate "
              f"{c.output_clip_rate:.2e}, bound-management retries per converted output "
              f"{c.retries * min(n, noisy.array.tile_cols) / max(c.outputs, 1):.3f}")

    # programming and drift cost
    k, n = shapes[0]
    W = torch.randn(n, k)
    drifting = noisy
    t_prog = timeit(lambda: optical.program(W, noisy), args.reps)
    st = optical.program(W, drifting)
    t_age = timeit(lambda: optical.drift(st, 1e5), args.reps)
    drifting_c = drifting.replace(pcm__drift_compensation="per_column")
    st_c = optical.program(W, drifting_c)
    t_age_c = timeit(lambda: optical.drift(st_c, 1e5), args.reps)
    st.weight_at(1e5)
    st.common_mode_cells(st.weight_at(1e5))
    nw = W.numel()
    print(f"program: {t_prog / nw * 1e9:.2f} ns/weight; age (drift, nu spread, 1/f read noise, "
          f"global compensation): {t_age / nw * 1e9:.2f} ns/weight, per-column compensation "
          f"{t_age_c / nw * 1e9:.2f} ns/weight")
    # machine yardstick (shared machines: compare with these, not with absolute numbers)
    t_randn = timeit(lambda: torch.randn(n, k), args.reps)
    t_copy = timeit(lambda: W.clone(), args.reps)
    print(f"yardstick on this machine: torch.randn {t_randn / nw * 1e9:.2f} ns/element, "
          f"clone {t_copy / nw * 1e9:.2f} ns/element")
    print(f"bytes per programmed weight while aged (state + aged cells + common-mode copy): "
          f"{st.bytes_per_weight():.2f}")
    print(f"SUMMARY noise-off worst ratio (batch>=64) {worst_off:.2f}x (target <= 1.2), "
          f"every effect on, 4096x4096 batch 64: {worst_on:.2f}x (target <= 1.5)")


if __name__ == "__main__":
    main()
