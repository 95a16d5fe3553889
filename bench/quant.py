"""Benchmark of photonic fake_quantize on a 4096x4096 float32 tensor.

For every format x scaling it prints the time of tp.fake_quantize divided by the time of
x.clone(), and the speedup over the same quantization written with plain torch ops (below).
Targets: <= 3x clone, >= 3x faster than plain torch.

    PYTHONPATH=. python bench/quant.py [--size 4096] [--reps 5]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import torch_photonic as tp

MAXV = {"fp8_e4m3": 448.0, "fp8_e5m2": 57344.0, "fp4_e2m1": 6.0}
EMAX = {"fp8_e4m3": 8, "fp8_e5m2": 15, "fp4_e2m1": 2}
DT = {"fp8_e4m3": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}


# ---- the same quantization with plain torch ops --------------------------------------------------

def _round_elem(v, fmt, sat=True):
    if fmt == "fp4_e2m1":
        a = v.abs().clamp(max=6.0)
        r = torch.where(a < 2, torch.round(a * 2) / 2, torch.where(a < 4, torch.round(a), torch.round(a / 2) * 2))
        return torch.copysign(r, v)
    if sat:
        v = v.clamp(-MAXV[fmt], MAXV[fmt])
    return v.to(DT[fmt]).float()


def _blocks(x, L):
    K = x.shape[-1]
    pad = (-K) % L
    xp = F.pad(x, (0, pad)) if pad else x
    return xp.reshape(*x.shape[:-1], -1, L), K


def _unblock(y, K):
    return y.reshape(*y.shape[:-2], -1)[..., :K]


def _pow2_floor(a):
    return ((a.view(torch.int32) >> 23) & 0xFF) - 127


def _ceil_log2(a):
    b = a.view(torch.int32)
    return ((b >> 23) & 0xFF) - 127 + ((b & 0x7FFFFF) != 0).int()


def torch_fake_quantize(x, fmt, scaling, rule="floor", weight=False):
    if scaling == "none":
        return _round_elem(x, fmt, sat=False) if fmt != "fp4_e2m1" else _round_elem(x, fmt)
    mx = MAXV[fmt]
    if scaling in ("tensor", "channel"):
        amax = x.abs().amax() if scaling == "tensor" else x.abs().amax(-1, keepdim=True)
        s = amax / mx
        s = torch.where(s == 0, torch.ones_like(s), s)
        return _round_elem(x / s, fmt) * s
    if scaling == "mx":
        xb, K = _blocks(x, 32)
        amax = xb.abs().amax(-1, keepdim=True)
        e = _pow2_floor(amax) - EMAX[fmt] if rule == "floor" else _ceil_log2(amax / mx)
        e = e.clamp(-127, 127).float()
        return _unblock(_round_elem(xb * torch.exp2(-e), fmt) * torch.exp2(e), K)
    if scaling == "nvfp4":
        pts = x.abs().amax() / 2688.0
        xb, K = _blocks(x, 16)
        amax = xb.abs().amax(-1, keepdim=True)
        s8 = ((amax / 6.0) / pts).clamp(2.0 ** -6, 448.0).to(torch.float8_e4m3fn).float()
        a = (1.0 / pts) / s8
        return _unblock(_round_elem((xb * a).clamp(-6, 6), fmt) * (pts * s8), K)
    ue8 = scaling == "block128_ue8m0"
    if weight:
        N, K = x.shape
        xp = F.pad(x, (0, (-K) % 128, 0, (-N) % 128))
        xb = xp.reshape(xp.shape[0] // 128, 128, xp.shape[1] // 128, 128)
        amax = xb.abs().amax(dim=(1, 3), keepdim=True)
    else:
        xb, K = _blocks(x, 128)
        amax = xb.abs().amax(-1, keepdim=True)
    if ue8:
        e = _ceil_log2(amax.clamp(min=1e-4) / mx).float()
        y = _round_elem(xb * torch.exp2(-e), fmt) * torch.exp2(e)
    else:
        s = amax / mx
        s = torch.where(s == 0, torch.ones_like(s), s)
        y = _round_elem(xb / s, fmt) * s
    if weight:
        return y.reshape(xp.shape)[:N, :K]
    return _unblock(y, K)


def timeit(fn, reps):
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.size, args.size)
    t_clone = timeit(lambda: x.clone(), args.reps)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, x {tuple(x.shape)} float32, "
          f"clone {t_clone * 1e3:.1f} ms")
    print(f"{'format':10s} {'scaling':22s} {'ms':>7s} {'x clone':>8s} {'torch ms':>9s} {'speedup':>8s}  max|diff|")
    for fmt in tp.formats():
        for scaling in tp.scalings():
            if scaling == "nvfp4" and fmt != "fp4_e2m1":
                continue
            variants = [("floor", False)]
            if scaling == "mx":
                variants = [("floor", False), ("rceil", False)]
            if scaling.startswith("block128"):
                variants = [("floor", False), ("floor", True)]
            for rule, weight in variants:
                name = scaling + ("/" + rule if scaling == "mx" else "") + ("/weight" if weight else "")
                t = timeit(lambda: tp.fake_quantize(x, fmt, scaling, rule, weight), args.reps)
                tt = timeit(lambda: torch_fake_quantize(x, fmt, scaling, rule, weight), max(1, args.reps // 2))
                diff = (tp.fake_quantize(x, fmt, scaling, rule, weight)
                        - torch_fake_quantize(x, fmt, scaling, rule, weight)).abs().max().item()
                print(f"{fmt:10s} {name:22s} {t * 1e3:7.1f} {t / t_clone:7.2f}x {tt * 1e3:9.1f} "
                      f"{tt / t:7.1f}x  {diff:.3g}")


if __name__ == "__main__":
    main()
