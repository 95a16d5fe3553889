"""The GPU roofline of torch_photonic.energy.gpu, each figure against a computation by hand from
the numbers of data/gpu_baselines.json."""
import json
import math
import re
from pathlib import Path

import pytest

from torch_photonic.energy.gpu import gpu_plan
from torch_photonic.energy.workload import Attention, Layer, Product, Workload

ROOT = Path(__file__).resolve().parents[2]
SOURCES_MD = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
BASELINES = json.loads((ROOT / "torch_photonic" / "energy" / "data" / "gpu_baselines.json")
                       .read_text(encoding="utf-8"))

# H100 SXM, from data/gpu_baselines.json
PEAK_BF16 = 989e12                       # datasheet dense bf16 FLOP/s
HBM_BW = 3350e9                          # bytes/s
HBM = 80e9                               # bytes
NVLINK = 450e9                           # bytes/s per direction
PRICE = 30000.0
EFF_COMPUTE = 682.54 / 989               # measured bf16 gemm / dense peak
EFF_MEMORY = (1.65e12 + 1.88e12 + 3.03e12) / 3 / 3350e9   # decode_b1 GEMVs: bytes/s = FLOP/s
WATTS_MEMORY = (345.8 + 378.9 + 509.6) / 3
WATTS_COMPUTE_BF16 = 702.1
YEAR = 365.25 * 86400

REL = 1e-12

HIDDEN = 1024
E, TOPK = 8, 2
ATT = Attention(heads=8, cached_values=256, flops_per_position=4.0 * 8 * 128)


def small_workload(params=60_000_000_000):
    """Two transformer layers (one dense, one MoE) and a head; ``params`` sets the GPU count
    (60e9 bf16 parameters = 120 GB: two H100s)."""
    dense = Layer(name="layers.0", hidden=HIDDEN, attention=ATT, ffn_width=4096, products=[
        Product("l0.up", HIDDEN, 4096), Product("l0.down", 4096, HIDDEN)])
    moe = Layer(name="layers.1", hidden=HIDDEN, attention=ATT, ffn_width=TOPK * 2048,
                router_experts=E, router_top_k=TOPK, products=[
                    Product("l1.q", HIDDEN, HIDDEN),
                    Product("l1.experts.gate_up", HIDDEN, 2048, count=E, per_token=TOPK,
                            kind="experts"),
                    Product("l1.experts.down", 1024, HIDDEN, count=E, per_token=TOPK,
                            kind="experts")])
    head = Layer(name="head", hidden=HIDDEN, products=[Product("lm_head", HIDDEN, 32000)])
    return Workload(name="small", layers=[dense, moe, head], params=params, hidden=HIDDEN,
                    vocab=32000)


def by_hand(batch, context, params=60_000_000_000):
    """Every number of the bf16 H100 plan, from the formulas, not from the library."""
    weights = params * 2
    kv = batch * context * (2 * 256) * 2                  # 2 layers x 256 cached values x 2 B
    G = math.ceil((weights + kv) / (0.9 * HBM))
    touched = E * (1 - (1 - TOPK / E) ** batch)
    active = (HIDDEN * 4096 + 4096 * HIDDEN                # dense layer
              + HIDDEN * HIDDEN + touched * (HIDDEN * 2048 + 1024 * HIDDEN)
              + HIDDEN * 32000)
    step_bytes = active * 2 + batch * HIDDEN * 2 + batch * context * 512 * 2
    macs = (2 * HIDDEN * 4096 + HIDDEN * HIDDEN + TOPK * (HIDDEN * 2048 + 1024 * HIDDEN)
            + HIDDEN * 32000)
    host = ((13 * HIDDEN + 3 * 4096)
            + (13 * HIDDEN + 3 * TOPK * 2048 + 2 * HIDDEN * E + E))
    flops = 2 * macs * batch + batch * context * 2 * 4096.0 + batch * host
    t_c = flops / (G * PEAK_BF16 * EFF_COMPUTE)
    t_m = step_bytes / (G * HBM_BW * EFF_MEMORY)
    kernels = (2 + 3 + 1) + (9 + 11)                       # products + host ops (MoE: +2)
    t_launch = kernels * 2e-6
    t_link = (2 * 2 * (batch * HIDDEN * 2 / NVLINK + 1e-6)) if G > 1 else 0.0
    step = max(t_c, t_m) + t_launch + t_link
    watts = WATTS_MEMORY if t_m >= t_c else WATTS_COMPUTE_BF16
    jpt = G * watts * step / batch
    tps = batch / step
    usd = 1e6 * (G * PRICE / (4.0 * YEAR * 0.5 * tps) + jpt * 1.2 * 0.08 / 3.6e6)
    return dict(G=G, kv=kv, weights=weights, t_c=t_c, t_m=t_m, t_launch=t_launch,
                t_link=t_link, step=step, watts=watts, jpt=jpt, tps=tps, usd=usd,
                bytes=step_bytes, flops=flops, bound="memory" if t_m >= t_c else "compute")


@pytest.mark.parametrize("batch,context,bound", [(1, 64, "memory"), (8192, 16, "compute")])
def test_small_workload_by_hand(batch, context, bound):
    w = small_workload()
    r = gpu_plan(w, "h100", batch=batch, context=context)
    h = by_hand(batch, context)
    assert r["bound"] == h["bound"] == bound
    assert r["gpus_needed"] == h["G"] == 2
    assert r["weights_bytes"] == h["weights"] and r["kv_bytes"] == h["kv"]
    assert r["step"]["bytes"] == pytest.approx(h["bytes"], rel=REL)
    assert r["step"]["flops"] == pytest.approx(h["flops"], rel=REL)
    st = r["by_stage"]
    assert st["compute"] == pytest.approx(h["t_c"], rel=REL)
    assert st["memory"] == pytest.approx(h["t_m"], rel=REL)
    assert st["launch"] == pytest.approx(h["t_launch"], rel=REL)
    assert st["interconnect"] == pytest.approx(h["t_link"], rel=REL)
    assert r["latency_s_per_token"] == pytest.approx(h["step"], rel=REL)
    assert r["tokens_per_s"] == pytest.approx(h["tps"], rel=REL)
    assert r["watts"] == pytest.approx(h["watts"], rel=REL)
    assert r["joules_per_token"] == pytest.approx(h["jpt"], rel=REL)
    assert r["usd_per_million_tokens"] == pytest.approx(h["usd"], rel=REL)
    assert r["efficiency"]["compute"] == pytest.approx(EFF_COMPUTE, rel=REL)
    assert r["efficiency"]["memory"] == pytest.approx(EFF_MEMORY, rel=REL)
    assert r["efficiency"]["compute_case"] == "bf16 gemm 8192^3"
    assert len(r["efficiency"]["memory_cases"]) == 3
    assert r["efficiency"]["borrowed_from"] is None
    assert r["name"] == "NVIDIA H100 SXM 80GB HBM3"


def test_one_gpu_has_no_interconnect():
    w = small_workload(params=10_000_000_000)          # 20 GB: one H100
    r = gpu_plan(w, "h100", batch=1, context=64)
    h = by_hand(1, 64, params=10_000_000_000)
    assert r["gpus_needed"] == h["G"] == 1
    assert r["by_stage"]["interconnect"] == 0.0
    assert r["latency_s_per_token"] == pytest.approx(h["step"], rel=REL)
    assert r["joules_per_token"] == pytest.approx(h["jpt"], rel=REL)


def test_fp8_halves_weight_bytes_and_uses_the_fp8_gemm():
    w = small_workload()
    r = gpu_plan(w, "h100", batch=8192, context=16, dtype="fp8")
    assert r["weights_bytes"] == 60_000_000_000
    assert r["efficiency"]["compute"] == pytest.approx(1231.03 / 1979, rel=REL)
    assert r["efficiency"]["compute_case"] == "fp8 e4m3 gemm 8192^3"
    assert r["bound"] == "compute"
    assert r["watts"] == pytest.approx(707.0, rel=REL)           # the fp8 gemm's wall power


def test_borrowed_efficiencies_are_named():
    w = small_workload()
    r = gpu_plan(w, "h200", batch=1, context=64)
    assert r["efficiency"]["borrowed_from"] == "h100"
    assert r["efficiency"]["compute"] == pytest.approx(EFF_COMPUTE, rel=REL)
    assert r["gpus_needed"] == math.ceil(120e9 / (0.9 * 141e9))
    assert r["usd_per_million_tokens"] is None and r["cost"]["electricity"] > 0


@pytest.fixture(scope="module")
def deepseek():
    from torch_photonic.models import deepseek_shapes as D
    from torch_photonic.energy.workload import workload
    return workload(D.build_meta_model(), "deepseek-v3")


@pytest.mark.parametrize("batch,context", [(1, 4096), (256, 32768)])
def test_gpus_needed_covers_weights_and_kv(deepseek, batch, context):
    r = gpu_plan(deepseek, "h100", batch=batch, context=context)
    need = deepseek.params * 2 + deepseek.kv_bytes(batch, context, 2)
    assert r["weights_bytes"] + r["kv_bytes"] == need
    G = r["gpus_needed"]
    assert G * 0.9 * 80e9 >= need
    assert (G - 1) * 0.9 * 80e9 < need


def test_throughput_rises_with_batch_while_memory_bound(deepseek):
    one = gpu_plan(deepseek, "h100", batch=1, context=4096)
    many = gpu_plan(deepseek, "h100", batch=64, context=4096)
    assert one["bound"] == many["bound"] == "memory"
    assert many["tokens_per_s"] > one["tokens_per_s"]
    assert many["joules_per_token"] < one["joules_per_token"]


@pytest.mark.parametrize("kwargs,name", [
    (dict(batch=0, context=16), "batch"),
    (dict(batch=-3, context=16), "batch"),
    (dict(batch=1, context=0), "context"),
    (dict(batch=1, context=16, gpu="h900"), "gpu"),
    (dict(batch=1, context=16, gpu="tpu-v5e"), "gpu"),
    (dict(batch=1, context=16, dtype="fp4"), "dtype"),
    (dict(batch=1, context=16, dtype="int3"), "dtype"),
    (dict(batch=1, context=16, usd_per_kwh=-0.1), "usd_per_kwh"),
    (dict(batch=1, context=16, pue=0.5), "pue"),
    (dict(batch=1, context=16, utilization=0.0), "utilization"),
    (dict(batch=1, context=16, amortization_years=0), "amortization_years"),
    (dict(batch=1, context=16, kv_bytes=0), "kv_bytes"),
    (dict(batch=1, context=16, op_overhead_s=-1e-6), "op_overhead_s"),
])
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        gpu_plan(small_workload(), **kwargs)


def test_system_entries_cite_known_keys():
    keys = set(re.findall(r"^- \*\*\[([a-z0-9][a-z0-9-]*)\]\*\*", SOURCES_MD, flags=re.M))
    systems = {g: e["system"] for g, e in BASELINES["gpus"].items() if "system" in e}
    assert "h100" in systems
    for g, s in systems.items():
        cited = set(re.findall(r"\[([a-z0-9][a-z0-9-]*)\]", s["source"]))
        assert cited and cited <= keys, g
        assert set(s["source_keys"]) <= cited, g
        for f in ("hbm_gb", "hbm_gb_per_s", "nvlink_gb_per_s"):
            assert s[f] > 0, (g, f)
