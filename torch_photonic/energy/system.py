"""System plan: energy, latency, throughput and cost per token of a model served on photonic
chips, and of the same work on GPUs. ``tp.plan(model_or_name, preset, batch=, context=,
chips=)``; docs/energy_model.md derives every term by hand.

One decode step serves ``batch`` sequences one token each, with ``context`` tokens cached per
sequence. For each layer in order (:mod:`~torch_photonic.energy.workload`) the step pays:

* **optics**: each weight product, one after the other, ``mvm_latency(batch rows)`` (routed
  experts run concurrently on their own tiles, each with ``ceil(batch*top_k/touched)`` rows);
  **converters**: ``converters.latency_s`` per product. Energy: ``mvm_energy`` of the rows
  (laser, dac, adc, memory; with ``power.laser = "cw"`` the laser is static instead).
* **host**: its host ops (``host.op_overhead_s`` each) and their work: attention over the
  context (``batch * context * flops_per_position``) plus element-wise and routing FLOPs at
  ``host.flop_per_s`` on the layer's hosts; energy ``host_energy``.
* **kv**: reading the layer's KV cache (``batch * context * cached_values * memory.kv_bytes``)
  from the tiers it fills (:mod:`~torch_photonic.energy.kv_tiers`) and writing the new entry;
  the host's compute overlaps the KV read, so the layer pays ``max(compute, kv read)``.
* **interconnect** (:mod:`~torch_photonic.energy.interconnect`): the activations to the host
  and back for attention (``2 x batch x hidden`` values), the MoE dispatch and combine when a
  layer's experts span chips (``2 x batch x top_k x hidden``), and the hop to the next layer's
  chip when it sits elsewhere (``batch x hidden``), at ``interconnect.activation_bytes`` each.
* **rewrite**, when the model does not fit its chips: the cells of the weights the step reads
  that are not resident (the capacity plan's overflow: cells or tiles, whichever runs out
  first), rewritten (``program_time``) after being fetched from ``memory.weights_tier`` of all
  hosts; not overlapped with the compute.

Step latency without pipelining is the sum over layers. With ``batch > 1`` and layers on
several hosts, the batch splits into ``S = min(stages, batch)`` micro-batches that flow through
the stages (a stage = the layers of one host): the step period is ``max(S x slowest stage,
sum of stages)`` at ``ceil(batch/S)`` rows; the plan takes the faster of the two schedules.
``latency_s_per_token`` is the time between two tokens of one sequence (the period);
``tokens_per_s = batch / period``; static energy per token = static watts x period / batch.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Optional, Sequence

from . import model as E
from .cost import chip_price, usd_per_million_tokens
from .interconnect import Placement, matrix_tiles, place, transfer
from .kv_tiers import kv_capacity_bytes, kv_fill, tier_energy, tier_time
from .capacity import capacity_plan, overflow
from .static import STATIC_COMPONENTS, hosts_for, static_power
from .workload import Workload, meta_model, touched_experts, workload
from ..hardware.resolve import resolve

__all__ = ["plan", "sweep", "STAGES", "DYNAMIC_COMPONENTS", "DEFAULT_BATCHES"]

#: latency stages of one step, in report order
STAGES = ("optics", "converters", "host", "kv", "interconnect", "rewrite", "pipeline_wait")
#: dynamic energy components, in report order
DYNAMIC_COMPONENTS = ("laser", "dac", "adc", "digital", "memory", "host", "kv", "interconnect",
                      "pcm_rewrite", "weight_fetch")
#: the batch sweep of :func:`sweep` and ``torch-photonic plan --sweep``
DEFAULT_BATCHES = (1, 4, 16, 64, 256, 1024)


def _positive_int(name: str, v: Any) -> int:
    """``v`` as an int > 0; a bool, a float (even 4.0) or any other non-integer is an error."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer (an int, not a bool or a float), "
                         f"got {v!r} ({type(v).__name__})")
    if v <= 0:
        raise ValueError(f"{name} must be a positive integer (> 0), got {v}")
    return int(v)


def _model_and_work(model_or_name: Any):
    if isinstance(model_or_name, str):
        model = meta_model(model_or_name)
        return model, workload(model, model_or_name)
    if isinstance(model_or_name, Workload):
        return None, model_or_name
    return model_or_name, workload(model_or_name)


class _Step:
    """Seconds by stage and joules by component of one layer or one step."""

    def __init__(self) -> None:
        self.t = {s: 0.0 for s in STAGES}
        self.j = {c: 0.0 for c in DYNAMIC_COMPONENTS}
        self.optical_macs = 0.0
        self.transfers = 0
        self.link_bytes = 0.0

    @property
    def seconds(self) -> float:
        return sum(self.t.values())

    def add(self, o: "_Step") -> None:
        for s, v in o.t.items():
            self.t[s] += v
        for c, v in o.j.items():
            self.j[c] += v
        self.optical_macs += o.optical_macs
        self.transfers += o.transfers
        self.link_bytes += o.link_bytes


def _layer_step(cfg: Any, work: Workload, i: int, pl: Placement, rows: int, context: int,
                kv_tiers: Dict[str, float], kv_total: float, cfg_chips: Any) -> _Step:
    layer = work.layers[i]
    lp = pl.layers[i]
    st = _Step()
    lat_conv = float(cfg.converters.latency_s)
    cw = cfg.power.laser == "cw"
    # optics and converters
    for p in layer.products:
        if p.kind == "experts":
            used = max(1.0, touched_experts(p, rows))
            total_rows = rows * p.per_token
            per_expert = math.ceil(total_rows / used)
        else:
            total_rows, per_expert = rows, rows
        st.t["optics"] += E.mvm_latency(cfg_chips, per_expert, p.k, p.n)
        st.t["converters"] += lat_conv
        for comp, j in E.mvm_energy(cfg, total_rows, p.k, p.n).items():
            st.j[comp] += 0.0 if (comp == "laser" and cw) else j
        st.optical_macs += float(total_rows) * p.k * p.n
    # host ops, attention and the KV cache
    hosts = pl.hosts_of(cfg, lp)
    att = layer.attention
    if att is not None:
        bpe = float(E._get(cfg, "dynamic.bytes_per_element"))
        flops = rows * context * att.flops_per_position + rows * layer.host_flops_per_token()
        elementwise_bytes = rows * layer.host_flops_per_token() * bpe
        compute = flops / (hosts * float(cfg.host.flop_per_s))
        compute += elementwise_bytes / (hosts * float(cfg.memory.gb_per_s["hbm"]) * 1e9) \
            if "hbm" in cfg.memory.gb_per_s else 0.0
        kvb = int(cfg.memory.kv_bytes)
        read = float(rows) * context * att.cached_values * kvb
        write = float(rows) * att.cached_values * kvb
        kv_time = 0.0
        for tier, held in kv_tiers.items():
            share = held / kv_total if kv_total else (1.0 if tier == cfg.memory.kv_tiers[0] else 0.0)
            if share == 0:
                continue
            kv_time += tier_time(cfg, tier, (read + write) * share, hosts)
            st.j["kv"] += tier_energy(cfg, tier, (read + write) * share)
        st.t["kv"] += kv_time
        st.t["host"] += layer.host_ops * float(cfg.host.op_overhead_s) + max(0.0, compute - kv_time)
        st.j["host"] += E.host_energy(cfg, flops, elementwise_bytes)
        # activations to the host and back
        ab = float(rows) * work.hidden * int(cfg.interconnect.activation_bytes)
        for _ in range(2):
            j, s = transfer(cfg, ab)
            st.j["interconnect"] += j
            st.t["interconnect"] += s
            st.transfers += 1
            st.link_bytes += ab
    # MoE dispatch and combine across the layer's chips
    if layer.router_experts and lp.chips > 1:
        ab = float(rows) * layer.router_top_k * work.hidden * int(cfg.interconnect.activation_bytes)
        scale = pl.supernode_of(cfg, lp.first_chip) != pl.supernode_of(cfg, lp.last_chip)
        for _ in range(2):
            j, s = transfer(cfg, ab, scaleout=scale)
            st.j["interconnect"] += j
            st.t["interconnect"] += s
            st.transfers += 1
            st.link_bytes += ab
    # hop to the next layer's chip
    if i + 1 < len(work.layers) and pl.fits:
        nxt = pl.layers[i + 1]
        if nxt.first_chip != lp.last_chip:
            ab = float(rows) * max(work.hidden, 1) * int(cfg.interconnect.activation_bytes)
            scale = pl.supernode_of(cfg, nxt.first_chip) != pl.supernode_of(cfg, lp.last_chip)
            j, s = transfer(cfg, ab, scaleout=scale)
            st.j["interconnect"] += j
            st.t["interconnect"] += s
            st.transfers += 1
            st.link_bytes += ab
    return st


def _rewrite(cfg: Any, work: Workload, rows: int, cap: Dict[str, Any], hosts: int,
             cfg_chips: Any) -> Dict[str, float]:
    """Cells, joules and seconds of the rewrites of one step (zero when the model fits). The
    share rewritten is the capacity plan's :func:`~torch_photonic.energy.capacity.overflow` on
    ``cfg_chips``: cells or tiles, whichever runs out first."""
    if cap["fits"] or not cap["cells_needed"]:
        return dict(cells=0.0, joules=0.0, fetch_joules=0.0, seconds=0.0, fetch_seconds=0.0)
    share = overflow(cfg_chips, cap["cells_needed"], cap["tiles_needed"])
    weights = work.active_weights(rows) * share
    cells = weights * int(cfg.array.cells_per_weight)
    fetch = weights * float(cfg.memory.weight_bytes)
    tier = cfg.memory.weights_tier
    return dict(cells=cells, joules=E.program_energy(cfg, cells),
                fetch_joules=tier_energy(cfg, tier, fetch), fetch_bytes=fetch,
                seconds=E.program_time(cfg_chips, cells),
                fetch_seconds=tier_time(cfg, tier, fetch, hosts))


def _schedule(cfg: Any, work: Workload, pl: Placement, batch: int, context: int,
              kv_tiers, kv_total, cap, hosts, cfg_chips):
    """The fastest schedule: the whole batch layer after layer, or ``S`` micro-batches (1 < S <=
    min(stages, batch), powers of two and the largest) flowing through the stages. Times come
    from the schedule's micro-batches, energies from the whole batch (they are linear in rows,
    so the split changes them only by padding)."""
    def run(rows: int):
        layers = [_layer_step(cfg, work, i, pl, rows, context, kv_tiers, kv_total, cfg_chips)
                  for i in range(len(work.layers))]
        rw = _rewrite(cfg, work, rows, cap, hosts, cfg_chips)
        return layers, rw

    def stage_times(layers: List[_Step]) -> List[float]:
        groups: Dict[int, float] = {}
        for lp, st in zip(pl.layers, layers):
            key = pl.host_of(cfg, lp.first_chip) if pl.fits else 0
            groups[key] = groups.get(key, 0.0) + st.seconds
        return list(groups.values())

    layers, rw = run(batch)
    plain = sum(s.seconds for s in layers) + rw["seconds"] + rw["fetch_seconds"]
    best = dict(period=plain, micro=1, rows=batch, layers=layers, rewrite=rw,
                energy_layers=layers, energy_rewrite=rw)
    stages = len(stage_times(layers)) if pl.fits else 1
    top = min(stages, batch)
    tries = sorted({top} | {2 ** e for e in range(1, int(math.log2(top)) + 1)}) if top > 1 else []
    for s_eff in tries:
        rows = math.ceil(batch / s_eff)
        m_layers, m_rw = run(rows)
        st = stage_times(m_layers)
        period = max(s_eff * max(st), sum(st))
        if period < best["period"]:
            best.update(period=period, micro=s_eff, rows=rows, layers=m_layers, rewrite=m_rw)
    return best


def _work_capacity(work: Workload, cfg: Any) -> Dict[str, Any]:
    """The capacity plan's counts for a hand-built :class:`Workload`."""
    a = cfg.array
    weights = work.optical_weights
    cells = weights * int(a.cells_per_weight)
    tiles = sum(matrix_tiles(cfg, p.k, p.n) * p.count for l in work.layers for p in l.products)
    need = max(math.ceil(cells / a.cells_per_chip), math.ceil(tiles / a.tiles_per_chip),
               1 if weights else 0)
    return dict(weights=weights, cells_needed=cells, tiles_needed=tiles, chips_needed=need,
                fits=need <= int(cfg.chips), capacity_cells=E.capacity_cells(cfg))


def plan(model_or_name: Any, preset: Any = None, *, batch: int = 1, context: int = 4096,
         chips: Optional[int] = None, gpu: Optional[str] = "h100", gpu_dtype: str = "bf16",
         **overrides) -> Dict[str, Any]:
    """Energy, latency, throughput, utilisation, cost and wear per decoded token of a model on
    ``preset`` (see the module docstring), next to ``gpu`` doing the same work.

    ``model_or_name``: an ``nn.Module`` (real or on the meta device), a built-in model name
    (registered by :mod:`torch_photonic.models`, e.g. ``"deepseek-v3"``) or a
    :class:`Workload`. ``chips``: chips in the system;
    default the config's ``chips`` raised to what holds the weights (fewer than that rewrites
    weights every step). ``gpu=None`` leaves the GPU row out. Overrides as in
    :func:`torch_photonic.resolve`.

    The result keeps the capacity plan's fields (``weights``, ``cells_needed``,
    ``tiles_needed``, ``chips_needed``, ``fits``, ``rewrite_cells_per_token``, ...) and adds
    ``joules_per_token`` (``by_component``: ``static`` and ``dynamic`` apart),
    ``joules_per_token_static``, ``latency_s_per_token`` (``by_stage``), ``tokens_per_s``,
    ``utilization``, ``chips``, ``usd_per_million_tokens``, ``wear_out_tokens``, ``placement``
    (the chips each layer sits on) and ``gpu``.
    """
    batch = _positive_int("batch", batch)
    context = _positive_int("context", context)
    if chips is not None:
        chips = _positive_int("chips", chips)
    cfg = resolve(preset, **overrides)
    model, work = _model_and_work(model_or_name)

    cap0 = capacity_plan(model, cfg.replace(chips=1)) if model is not None \
        else _work_capacity(work, cfg.replace(chips=1))
    n_chips = int(chips) if chips is not None else max(int(cfg.chips), int(cap0["chips_needed"]) or 1)
    cfg_chips = cfg.replace(chips=n_chips)
    cap = capacity_plan(model, cfg_chips) if model is not None else _work_capacity(work, cfg_chips)
    hosts = hosts_for(cfg, n_chips)

    kv_total = float(work.kv_bytes(batch, context, cfg.memory.kv_bytes))
    kv_tiers = kv_fill(cfg, kv_total, hosts)
    pl = place(work, cfg, n_chips)

    best = _schedule(cfg, work, pl, batch, context, kv_tiers, kv_total, cap, hosts, cfg_chips)
    timed = _Step()                                # one micro-batch through every layer
    for s in best["layers"]:
        timed.add(s)
    rw_t = best["rewrite"]
    timed.t["rewrite"] = rw_t["seconds"] + rw_t["fetch_seconds"]
    total = _Step()                                # the whole batch's work
    for s in best["energy_layers"]:
        total.add(s)
    rw = best["energy_rewrite"]
    total.j["pcm_rewrite"] = rw["joules"]
    total.j["weight_fetch"] = rw["fetch_joules"]
    micro = best["micro"]
    period = best["period"]
    by_stage = dict(timed.t)
    by_stage["pipeline_wait"] = max(0.0, period - sum(timed.t.values()))

    tokens_per_step = batch
    dynamic = {c: total.j[c] / tokens_per_step for c in DYNAMIC_COMPONENTS}
    watts = static_power(cfg, n_chips)
    static = {c: watts[c] * period / tokens_per_step for c in STATIC_COMPONENTS}
    j_static = sum(static.values())
    j_dynamic = sum(dynamic.values())
    jpt = j_static + j_dynamic
    tps = tokens_per_step / period if period > 0 else float("inf")

    peak_macs = (int(cfg.array.tile_rows) * int(cfg.array.tile_cols) * float(cfg.optics.clock_hz)
                 * int(cfg.optics.wdm_channels) * int(E._get(cfg, "array.tiles_in_parallel"))
                 * n_chips)
    macs_per_token = total.optical_macs / tokens_per_step
    util = macs_per_token * tps / peak_macs if peak_macs else 0.0

    cost = usd_per_million_tokens(cfg, n_chips, jpt, tps) if math.isfinite(tps) else None
    zero_static_cost = usd_per_million_tokens(cfg, n_chips, j_dynamic, tps) \
        if math.isfinite(tps) else None

    rw_cells_token = rw["cells"] / tokens_per_step
    capacity_cells = E.capacity_cells(cfg_chips)
    wear_tokens = (float(cfg.pcm.endurance_cycles) * capacity_cells / rw_cells_token) \
        if rw_cells_token > 0 else None
    out: Dict[str, Any] = dict(cap)
    out.update(
        model=getattr(work, "name", None), preset=cfg.name, batch=batch, context=context,
        chips=n_chips, hosts=hosts, chips_needed=int(cap0["chips_needed"]), fits=bool(cap["fits"]),
        joules_per_token=jpt,
        by_component=dict(static=static, dynamic=dynamic),
        joules_per_token_static=j_static, joules_per_token_dynamic=j_dynamic,
        static_watts=watts,
        latency_s_per_token=period, by_stage=by_stage,
        tokens_per_s=tps, utilization=util, macs_per_token=macs_per_token,
        micro_batches=micro, pipeline_stages=len({pl.host_of(cfg, l.first_chip)
                                                   for l in pl.layers}) if pl.fits else 1,
        usd_per_million_tokens=None if cost is None else cost["total"],
        cost=None if cost is None else dict(cost, chip_usd=chip_price(cfg)),
        zero_static=dict(joules_per_token=j_dynamic,
                         usd_per_million_tokens=None if zero_static_cost is None
                         else zero_static_cost["total"]),
        wear_out_tokens=wear_tokens,
        wear_out_hours=(wear_tokens / tps / 3600.0) if wear_tokens and math.isfinite(tps) else None,
        rewrite_cells_per_step=rw["cells"],
        kv=dict(bytes=kv_total, tiers=kv_tiers, capacity_bytes=kv_capacity_bytes(cfg, hosts)),
        interconnect=dict(bytes_per_token=total.link_bytes / tokens_per_step,
                          transfers_per_step=timed.transfers * micro),
        placement=[dict(layer=l.name, first_chip=l.first_chip, last_chip=l.last_chip,
                        tiles=l.tiles) for l in pl.layers],
    )
    if gpu:
        from .gpu import gpu_plan
        c = cfg.cost
        out["gpu"] = gpu_plan(work, gpu, batch=batch, context=context, dtype=gpu_dtype,
                              kv_bytes=int(cfg.memory.kv_bytes),
                              op_overhead_s=float(cfg.host.op_overhead_s),
                              usd_per_kwh=float(c.usd_per_kwh), pue=float(c.pue),
                              amortization_years=float(c.amortization_years),
                              utilization=float(c.utilization))
    return out


def sweep(model_or_name: Any, preset: Any = None, *, batches: Sequence[int] = DEFAULT_BATCHES,
          context: int = 4096, chips: Optional[int] = None, gpu: Optional[str] = "h100",
          **overrides) -> List[Dict[str, Any]]:
    """:func:`plan` at each batch size (the model is built once)."""
    model, work = _model_and_work(model_or_name)
    target = model if model is not None else work
    rows = [plan(target, preset, batch=b, context=context, chips=chips, gpu=gpu, **overrides)
            for b in batches]
    for r in rows:
        r["model"] = work.name
    return rows
