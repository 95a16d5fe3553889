"""The GPU at the same work: a roofline on measured efficiencies.

:func:`gpu_plan` prices one decode step of a :class:`~torch_photonic.energy.workload.Workload`
on ``G`` GPUs of one kind, the same work :mod:`torch_photonic.energy.plan` prices on photonic
chips. Every number comes from ``data/gpu_baselines.json`` (its ``measured``, ``datasheet`` and
``system`` entries, each naming its source in docs/sources.md) or is an assumption stated here.

Memory and GPU count
    Weights: ``work.params`` x bytes per parameter (bf16 2, fp8 1). KV cache:
    ``work.kv_bytes(batch, context, kv_bytes)``. ``G = ceil((weights + KV) / (USABLE_HBM_FRACTION
    x HBM bytes per GPU))``; ``USABLE_HBM_FRACTION`` = 0.9 is an assumption (the runtime, CUDA
    context and activations take the rest). HBM per GPU: ``system.hbm_gb`` (H100 SXM 80 GB
    [nvidia2022]).

One decode step of ``batch`` tokens, split over the ``G`` GPUs (tensor and expert parallel:
bytes and FLOPs divide evenly over them)
    * Bytes read: ``work.active_weights(batch)`` x bytes per parameter (distinct weights the
      step reads, uniform MoE routing) + embedding rows (``batch x hidden x`` bytes per
      parameter) + KV read (``batch x context x`` cached values per token x ``kv_bytes``).
    * FLOPs: ``2 x sum(k * n * per_token) x batch`` (weight products) + ``batch x context x
      flops_per_position`` per attention layer + ``batch x`` host element-wise FLOPs
      (``Layer.host_flops_per_token``).
    * Compute time = FLOPs / (G x dense peak x ``eff_compute``); memory time = bytes / (G x HBM
      bandwidth x ``eff_memory``); the step takes the longer of the two (``bound``; ``by_stage``
      reports both) plus:
    * Launch: kernels per step x ``op_overhead_s``; one kernel per weight product plus
      ``layer.host_ops`` per layer, the ops the photonic host runs (a GPU runs the same ones).
    * Interconnect, when G > 1: per transformer layer two all-to-all exchanges (MoE dispatch and
      combine) of ``batch x hidden x 2`` bytes (bf16 activations) at the NVLink bandwidth per
      direction (``system.nvlink_gb_per_s``: 450 GB/s for the H100, NVLink 4's 900 GB/s
      bidirectional [nvidia2022]) plus ``TRANSFER_LATENCY_S`` = 1 us per exchange (an
      assumption).

Measured efficiencies (H100 SXM, [h100-energy] [h100-gemm])
    * ``eff_compute`` = the measured 8192^3 GEMM of the same dtype over the datasheet dense
      peak: bf16 682.54 / 989 TFLOP/s = 0.690, fp8 1231.03 / 1979 = 0.622.
    * ``eff_memory`` = the mean achieved HBM bandwidth of the measured ``decode_b1`` GEMVs
      (7168->2048, 2048->7168, 7168->18432, bf16) over the 3.35 TB/s peak [nvidia2022]. At batch
      1 a bf16 GEMV reads 2 bytes per weight and does 2 FLOP with it, so bytes/s =
      TFLOP/s x 1e12: mean(1.65, 1.88, 3.03) TB/s / 3.35 TB/s = 0.653. Activation bytes are left
      out (under 0.1 % of the weight bytes for these shapes).
    * GPUs without measured cases reuse the H100's two efficiencies; the result says so in
      ``efficiency.borrowed_from``.

Power and energy
    The measured average wall power of the bound regime, per GPU: memory-bound, the mean
    ``avg_watts`` of the ``decode_b1`` cases ((345.8 + 378.9 + 509.6) / 3 = 411.4 W);
    compute-bound, the ``avg_watts`` of the GEMM of the dtype (bf16 702.1 W, fp8 707.0 W). These
    are the board's NVML readings while the loop runs, so the idle power (72.4 W) is inside
    them, not counted again. The whole step (launch and interconnect time included) is charged at that
    power: energy per step = G x watts x step time. GPUs without measurements take the H100's
    watts scaled by their datasheet board power over the H100's 700 W (an assumption).

Throughput and cost
    Tokens per step = ``batch``; ``latency_s_per_token`` = step time; ``tokens_per_s`` = batch /
    step time. ``usd_per_million_tokens = 1e6 x (G x price / (amortization_years x 365.25 x
    86400 x utilization x tokens_per_s) + joules_per_token x pue x usd_per_kwh / 3.6e6)``:
    the GPUs alone (no server, network or building), price from ``system.price_usd`` (H100:
    $30,000 [h100-price]); defaults $0.08/kWh [eia2024] and PUE 1.2 [uptime2024]. Where no
    price is cited the owning part and the total are ``None`` and only electricity is given.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Optional

from . import baselines

__all__ = ["gpu_plan", "efficiencies", "DTYPE_BYTES", "USABLE_HBM_FRACTION",
           "TRANSFER_LATENCY_S", "ACTIVATION_BYTES", "MEASURED_GPU"]

#: bytes per weight of each supported dtype
DTYPE_BYTES = {"bf16": 2, "fp8": 1}
#: fraction of HBM that holds weights and KV cache (assumption: runtime and activations)
USABLE_HBM_FRACTION = 0.9
#: latency of one all-to-all exchange over NVLink (assumption)
TRANSFER_LATENCY_S = 1e-6
#: bytes per activation element exchanged between GPUs (bf16)
ACTIVATION_BYTES = 2
#: the GPU whose measured cases give the efficiencies and watts of the others
MEASURED_GPU = "h100"

_SECONDS_PER_YEAR = 365.25 * 86400.0


def _key(gpu: Any) -> str:
    return str(gpu).strip().lower().replace("_", "-").replace(" ", "-")


def _peak_tflops(entry: Dict[str, Any], dtype: str) -> Optional[float]:
    d = entry.get("datasheet") or {}
    for p in d.get("peaks", []):
        if p["dtype"] == dtype:
            return float(p["tflops"])
    return None


def efficiencies(gpu: str = MEASURED_GPU, dtype: str = "bf16") -> Dict[str, Any]:
    """The measured compute and memory efficiencies and the watts of each regime that
    :func:`gpu_plan` uses for ``gpu`` at ``dtype`` (see the module docstring)."""
    key = _key(gpu)
    entry = baselines.get(key)
    own = baselines.measured_cases(key)
    src_key = key if own else MEASURED_GPU
    src = baselines.get(src_key)
    cases = own or baselines.measured_cases(MEASURED_GPU)
    gemm = [c for c in cases if c["regime"] == "gemm" and c["dtype"] == dtype]
    b1 = [c for c in cases if c["regime"] == "decode_b1" and c["dtype"] == "bf16"]
    if not gemm or not b1:
        raise ValueError(f"dtype {dtype!r}: no measured gemm and decode_b1 cases on {src_key}")
    src_peak = _peak_tflops(src, dtype)
    src_bw = float(src["system"]["hbm_gb_per_s"]) * 1e9
    gemm = gemm[0]
    eff_compute = float(gemm["tflop_per_s"]) / src_peak
    # bf16 GEMV at batch 1: 2 bytes per weight, 2 FLOP per weight -> bytes/s = FLOP/s
    achieved = [float(c["tflop_per_s"]) * 1e12 for c in b1]
    eff_memory = sum(achieved) / len(achieved) / src_bw
    watts_memory = sum(float(c["avg_watts"]) for c in b1) / len(b1)
    watts_compute = float(gemm["avg_watts"])
    scale = 1.0
    if src_key != key:
        w_src = src["datasheet"].get("watts")
        w_own = (entry.get("datasheet") or {}).get("watts")
        if not w_src or not w_own:
            raise ValueError(f"gpu {gpu!r}: no datasheet power to scale the {src_key} watts by")
        scale = float(w_own) / float(w_src)
    return dict(
        compute=eff_compute, compute_case=gemm["case"], compute_peak_tflops=src_peak,
        memory=eff_memory, memory_cases=[c["case"] for c in b1],
        memory_achieved_gb_per_s=[a / 1e9 for a in achieved], memory_peak_gb_per_s=src_bw / 1e9,
        memory_rule="mean achieved bytes/s of the decode_b1 GEMVs (bf16: bytes/s = FLOP/s) "
                    "over the HBM peak",
        watts_memory=watts_memory * scale, watts_memory_cases=[c["case"] for c in b1],
        watts_compute=watts_compute * scale, watts_compute_case=gemm["case"],
        watts_scale=scale,
        borrowed_from=None if src_key == key else src_key,
        source=src["measured"]["source"])


def _check(name: str, value: Any, ok: bool, rule: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {rule}, got {value!r}")


def gpu_plan(work: Any, gpu: str = "h100", *, batch: int, context: int, dtype: str = "bf16",
             kv_bytes: int = 2, op_overhead_s: float = 2e-6, usd_per_kwh: float = 0.08,
             pue: float = 1.2, amortization_years: float = 4.0,
             utilization: float = 0.5) -> Dict[str, Any]:
    """Decode ``work`` on GPUs of kind ``gpu``: how many, the time, energy and cost per token.

    ``batch`` sequences decode one token each per step, each over ``context`` cached tokens
    (KV cache of ``kv_bytes`` per value). The model is the module docstring's.
    """
    for name, v in (("batch", batch), ("context", context)):
        _check(name, v, isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0,
               "a positive integer")
    batch, context = int(batch), int(context)
    _check("kv_bytes", kv_bytes, isinstance(kv_bytes, (int, float)) and kv_bytes > 0, "> 0")
    _check("op_overhead_s", op_overhead_s, op_overhead_s >= 0, ">= 0")
    _check("usd_per_kwh", usd_per_kwh, usd_per_kwh >= 0, ">= 0")
    _check("pue", pue, pue >= 1, ">= 1")
    _check("amortization_years", amortization_years, amortization_years > 0, "> 0")
    _check("utilization", utilization, 0 < utilization <= 1, "in (0, 1]")
    try:
        entry = baselines.get(gpu)
    except ValueError:
        raise ValueError(f"gpu {gpu!r} is unknown; known: {', '.join(_planned())}") from None
    key = _key(gpu)
    system = entry.get("system")
    if not system:
        raise ValueError(f"gpu {gpu!r} has no system data (HBM, NVLink); known: "
                         f"{', '.join(_planned())}")
    price = system.get("price_usd")
    _check("price_usd", price, price is None or price >= 0, ">= 0")
    dt = str(dtype).lower()
    peak = _peak_tflops(entry, dt)
    if dt not in DTYPE_BYTES or peak is None:
        have = [p["dtype"] for p in entry["datasheet"]["peaks"] if p["dtype"] in DTYPE_BYTES]
        raise ValueError(f"dtype {dtype!r} is not supported on {key}; supported: {', '.join(have)}")
    eff = efficiencies(key, dt)
    bpp = DTYPE_BYTES[dt]

    # memory: weights and KV cache over the usable HBM
    weights_bytes = int(work.params) * bpp
    kv_total = int(work.kv_bytes(batch, context, kv_bytes))
    hbm = float(system["hbm_gb"]) * 1e9
    need = weights_bytes + kv_total
    G = max(1, math.ceil(need / (USABLE_HBM_FRACTION * hbm)))

    # one decode step of `batch` tokens
    layers = list(work.layers)
    att_layers = [l for l in layers if l.attention is not None]
    products = [p for l in layers for p in l.products]
    weight_read = float(work.active_weights(batch)) * bpp
    embed_read = float(batch) * work.hidden * bpp
    kv_read = float(batch) * context * work.cached_values_per_token() * kv_bytes
    step_bytes = weight_read + embed_read + kv_read
    flops_products = 2.0 * sum(p.k * p.n * p.per_token for p in products) * batch
    flops_attention = float(batch) * context * sum(l.attention.flops_per_position
                                                   for l in att_layers)
    flops_host = float(batch) * sum(l.host_flops_per_token() for l in layers)
    step_flops = flops_products + flops_attention + flops_host

    bw = float(system["hbm_gb_per_s"]) * 1e9
    t_compute = step_flops / (G * peak * 1e12 * eff["compute"])
    t_memory = step_bytes / (G * bw * eff["memory"])
    kernels = len(products) + sum(l.host_ops for l in layers)
    t_launch = kernels * op_overhead_s
    exchanges = 2 * len(att_layers) if G > 1 else 0
    link = float(system["nvlink_gb_per_s"]) * 1e9
    exchange_bytes = float(batch) * work.hidden * ACTIVATION_BYTES
    t_link = exchanges * (exchange_bytes / link + TRANSFER_LATENCY_S)
    bound = "memory" if t_memory >= t_compute else "compute"
    step_s = max(t_compute, t_memory) + t_launch + t_link

    watts = eff["watts_memory"] if bound == "memory" else eff["watts_compute"]
    joules_step = G * watts * step_s
    joules_per_token = joules_step / batch
    tokens_per_s = batch / step_s

    served = amortization_years * _SECONDS_PER_YEAR * utilization * tokens_per_s
    electricity = 1e6 * joules_per_token * pue * usd_per_kwh / 3.6e6
    owning = None if price is None else 1e6 * G * float(price) / served
    total = None if owning is None else owning + electricity

    return dict(
        name=entry["name"], gpu=key, dtype=dt, batch=int(batch), context=int(context),
        gpus_needed=G, bound=bound,
        joules_per_token=joules_per_token, latency_s_per_token=step_s,
        tokens_per_s=tokens_per_s, usd_per_million_tokens=total,
        cost=dict(owning=owning, electricity=electricity, total=total,
                  gpus_usd=None if price is None else G * float(price),
                  price_usd=price, usd_per_kwh=usd_per_kwh, pue=pue,
                  amortization_years=amortization_years, utilization=utilization),
        by_stage=dict(compute=t_compute, memory=t_memory, launch=t_launch,
                      interconnect=t_link),
        step_s=step_s, joules_per_step=joules_step, watts=watts,
        weights_bytes=weights_bytes, kv_bytes=kv_total, hbm_bytes_per_gpu=need / G,
        hbm_capacity_bytes=hbm, usable_hbm_fraction=USABLE_HBM_FRACTION,
        step=dict(bytes=step_bytes, weight_bytes=weight_read, embedding_bytes=embed_read,
                  kv_bytes=kv_read, flops=step_flops, product_flops=flops_products,
                  attention_flops=flops_attention, host_flops=flops_host, kernels=kernels,
                  exchanges=exchanges, exchange_bytes=exchange_bytes),
        efficiency=dict(compute=eff["compute"], compute_case=eff["compute_case"],
                        memory=eff["memory"], memory_cases=eff["memory_cases"],
                        memory_rule=eff["memory_rule"], borrowed_from=eff["borrowed_from"],
                        watts_case=(eff["watts_memory_cases"] if bound == "memory"
                                    else [eff["watts_compute_case"]]),
                        watts_scale=eff["watts_scale"]),
        assumptions=dict(usable_hbm_fraction=USABLE_HBM_FRACTION,
                         transfer_latency_s=TRANSFER_LATENCY_S, op_overhead_s=op_overhead_s,
                         activation_bytes=ACTIVATION_BYTES,
                         idle_power="inside the measured wall power, not counted again"),
        source=dict(efficiency=eff["source"], peaks=entry["datasheet"]["source"],
                    system=system["source"],
                    electricity="[E] industrial electricity price [eia2024]",
                    pue="[E] data-centre PUE [uptime2024]"),
    )


def _planned() -> List[str]:
    return [k for k in baselines.known() if baselines.get(k).get("system")]
