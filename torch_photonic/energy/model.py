"""Energy and latency of the emulated photonic PCM accelerator: pure functions of a config.

Every function takes a :class:`torch_photonic.HardwareConfig` (or any object with the same
groups and field names, see docs/design.md) and returns plain numbers; nothing here keeps
state. The meter (:mod:`torch_photonic.energy.meter`) turns producer events into calls to these
functions. Bracketed keys (``[zhu2024]``, ``[d-read-noise]``) cite entries of
docs/sources.md.

Model of one optical matrix product ``Y[m, n] = X[m, k] @ W[k, n]``
------------------------------------------------------------------
A tile holds ``array.tile_rows`` inputs (fan-in, K) x ``array.tile_cols`` outputs (N).
The product occupies ``k_tiles = ceil(k / tile_rows)`` x ``n_tiles = ceil(n / tile_cols)``
tiles; each of the ``m`` input rows makes one *tile pass* through each of them.

* ``dac``   (per input sample, DAC + modulator): samples = m * k * n_tiles
  (each input element is converted once for every tile column-block it feeds);
  E = samples * (converters.dac_energy_j + converters.modulator_energy_j).
* ``adc``   (per output conversion, ADC + photodiode + TIA): conversions = m * n * k_tiles
  (every tile's partial sum is digitised, partials are summed digitally);
  E = conversions * (E_adc + pd_energy_j + tia_energy_j), where the ADC's energy grows with its
  sample rate above ``adc_ref_hz`` and is bounded below by the Schreier figure of merit at its
  resolution ([d-adc-scaling]): ``E_adc = max(adc_energy_j * max(1, clock_hz / adc_ref_hz),
  0.5 * 10**((6.02 adc_bits + 1.76 - adc_schreier_db) / 10))``.
* ``digital`` (per output conversion): adding the digitised partial sum into its output,
  E = conversions * converters.accumulate_energy_j.
* ``laser`` (per output conversion): the laser of the config's photon budget
  (:mod:`torch_photonic.hardware.photon_budget`), the same light that sets the shot and receiver
  noise the kernels draw: ``E_conv = optics.laser_power_w / wall_plug_efficiency /
  (tiles_in_parallel * tile_cols * wdm_channels * clock_hz)``, the wall power of the laser shared
  by every conversion the chip makes per second at full use.
* ``memory`` (activation traffic, on-chip SRAM): bits = m*k*dac_bits + m*n*adc_bits,
  E = bits * host.sram_pj_per_bit * 1e-12 (SRAM 0.10 pJ/bit, [zhu2024] from [cacti2009]; gives
  the glass preset's ~490 TOPS/W with SRAM quoted in the README).
* ``pcm_write`` (per PCM cell written): E = cells * pcm.write_energy_j,
  t = ceil(cells / (pcm.parallel_writers * chips)) * pcm.write_time_s (weight loads add
  t_write x rows / parallel writers, one write driver per tile column: [d-write]).
* ``host`` (ops run on the electronic host): E = flops * host.energy_per_flop_j +
  bytes * host.energy_per_byte_j; t = calls * host.op_overhead_s + max(flops /
  host.flop_per_s, bytes / memory.gb_per_s["hbm"]).
* ``kv`` (KV-cache traffic): E = bytes * 8 * host.tier_pj_per_bit[host.kv_tier] * 1e-12,
  t = bytes / memory.gb_per_s[host.kv_tier] (one host).
* ``static`` (the meter): the static power of the config's chips and hosts
  (:mod:`torch_photonic.energy.static`) over the metered seconds. With ``power.laser = "cw"``
  the laser is static and the per-conversion ``laser`` term is zero.

Per MAC the converters cost (tile_rows*E_in + tile_cols*E_out) / (tile_rows*tile_cols), so
energy per MAC falls ~1/N with the fan-in: :func:`energy_per_mac_vs_fanin` shows it.

Latency of one product: the ``k_tiles*n_tiles`` tiles of the weight run concurrently up to
``array.tiles_in_parallel * chips``; ``optics.wdm_channels`` wavelengths carry that many input
rows through a tile at once; one tile pass per clock:
``cycles = ceil(m / wdm) * ceil(k_tiles*n_tiles / min(parallel, k_tiles*n_tiles))``,
``seconds = cycles / clock_hz``; the meter adds ``converters.latency_s`` once per product and
runs host ops and KV traffic after the optics (none of them is assumed overlapped). The system
planner (:mod:`torch_photonic.energy.system`) adds links, memory tiers, pipelining and cost.

Full utilisation: ``POPS = 2 * tile_rows * tile_cols * clock_hz * wdm * tiles_in_parallel *
chips / 1e15`` (1 MAC = 2 ops); TOPS/W from the per-MAC energy of a full tile.

``claim`` mode: the vendor's ``claim.tops_per_watt`` and ``claim.pops`` applied to the op count
(2 ops per MAC): E = 2*MACs / (tops_per_watt*1e12), t = 2*MACs / (pops*1e15). Claim mode
replaces only the optical terms (laser, dac, adc, memory); PCM writes, KV traffic and host
ops are charged bottom-up in both modes because no vendor figure covers them.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Iterable, List, Optional

from ..hardware.photon_budget import LIGHT_M_S, PLANCK_J_S
from ..hardware.photon_budget import laser_energy_per_conversion as _laser_energy

__all__ = [
    "OPTICAL_COMPONENTS", "COMPONENTS", "PHYSICAL_LIMIT_TOPS_PER_WATT", "DEFAULTS",
    "tile_shape", "mvm_counts", "laser_energy_per_conversion", "input_sample_energy", "adc_energy",
    "output_conversion_energy", "mvm_energy", "mvm_latency", "claim_energy", "claim_latency",
    "program_energy", "program_time", "host_energy", "host_seconds", "kv_energy", "kv_seconds",
    "tier_pj_per_bit",
    "energy_per_mac", "peak", "energy_per_mac_vs_fanin", "capacity_cells",
]


#: optical components, in report order
OPTICAL_COMPONENTS = ("laser", "dac", "adc", "digital", "memory")
#: every component a meter reports, in report order ("claim" only in claim mode)
COMPONENTS = ("laser", "dac", "adc", "digital", "memory", "claim", "pcm_write", "pcm_rewrite", "kv", "host",
              "interconnect", "static")

#: A sanity bound at 8 bits: a bottom-up figure above 1e4 TOPS/W (0.2 fJ per MAC) is beyond what
#: 10 fJ converters and shot-limited light ([d-read-noise]) allow, so :func:`peak` warns (it
#: points at a wrong config, not at a result).
PHYSICAL_LIMIT_TOPS_PER_WATT = 1e4

#: Defaults used only when a config lacks a field (getattr with a default). Each is sourced.
DEFAULTS: Dict[str, Any] = {
    # tiles that fire in the same cycle: all tiles of the chip (the glass claim of 2600 POPS
    # holds only with every tile busy every cycle, [d-clock], [d-tiling]).
    "array.tiles_in_parallel": None,          # None -> array.tiles_per_chip
    # one row of every tile written at once: one write driver per tile column ([d-write]).
    "pcm.parallel_writers": None,             # None -> tiles_per_chip * tile_cols
    # C band, 1550 nm ([d-receiver]; photon energy: 2^16 photons = 8.4 fJ at 8 b).
    "optics.wavelength_m": 1.55e-6,
    # measured H100 bf16 GEMM 0.9721 TFLOP/J -> 1.03 pJ/FLOP ([h100-gemm]).
    "host.energy_per_flop_j": 1.0 / 0.9721e12,
    # DRAM 3.9 pJ/bit ([zhu2024] from [cacti2009]) -> 31.2 pJ/byte.
    "host.energy_per_byte_j": 3.9e-12 * 8,
    # SRAM 0.10 pJ/bit ([zhu2024] from [cacti2009]).
    "host.sram_pj_per_bit": 0.10,
    "host.kv_tier": "hbm",
    # SRAM 0.10, DRAM 3.9 ([zhu2024] from [cacti2009]), HBM2 3.9 ([oconnor2017]).
    # SSD ~143 pJ/bit [D]: an M.2 NVMe Gen4 drive draws 2-8 W reading
    # (storedbits.com/?p=134) at ~7 GB/s sequential: 8 W / 56 Gbit/s = 143 pJ/bit.
    "host.tier_pj_per_bit": {"sram": 0.10, "hbm": 3.9, "dram": 3.9, "ssd": 143.0},
    "dynamic.mode": "electronic",
    # lasers switched with the work, charged per conversion ([d-static-power])
    "power.laser": "gated",
    # measured H100 BF16 product throughput ([h100-gemm]); 2 us per host op ([d-latency])
    "host.flop_per_s": 6.8254e14,
    "host.op_overhead_s": 2.0e-6,
    "converters.latency_s": 0.0,
    "converters.adc_ref_hz": 0.0,
    "converters.adc_schreier_db": 0.0,
    "converters.accumulate_energy_j": 0.0,
    # bytes per element of a dynamic (attention) operand run on the host: bf16.
    "dynamic.bytes_per_element": 2,
    "chips": 1,
}


def _get(cfg: Any, path: str) -> Any:
    """``cfg.<group>.<field>`` or the documented default in :data:`DEFAULTS`."""
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            break
    if obj is not None:
        return obj
    d = DEFAULTS.get(path)
    if path == "array.tiles_in_parallel" and d is None:
        return int(cfg.array.tiles_per_chip)
    if path == "pcm.parallel_writers" and d is None:
        return int(cfg.array.tiles_per_chip) * int(cfg.array.tile_cols)
    if d is None:
        raise AttributeError(f"config has no field {path!r} and no default for it")
    return d


def _ceil_div(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def tile_shape(cfg: Any):
    """(fan-in N_in = tile_rows, fan-out N_out = tile_cols)."""
    return int(cfg.array.tile_rows), int(cfg.array.tile_cols)


def mvm_counts(cfg: Any, m: int, k: int, n: int, batch: int = 1) -> Dict[str, int]:
    """Operation counts of ``batch`` products of ``[m,k] @ [k,n]`` on this config's tiles."""
    if min(m, k, n, batch) < 0:
        raise ValueError(f"negative product shape m={m} k={k} n={n} batch={batch}")
    rows, cols = tile_shape(cfg)
    kt, nt = _ceil_div(k, rows), _ceil_div(n, cols)
    mb = int(m) * int(batch)
    return dict(
        macs=mb * int(k) * int(n),
        k_tiles=kt, n_tiles=nt,
        tile_passes=mb * kt * nt,
        dac_samples=mb * int(k) * nt,
        adc_conversions=mb * int(n) * kt,
        act_bits_in=mb * int(k) * int(cfg.converters.dac_bits),
        act_bits_out=mb * int(n) * int(cfg.converters.adc_bits),
    )


def laser_energy_per_conversion(cfg: Any) -> float:
    """Wall-plug laser energy behind one output conversion (J), from the photon budget."""
    return _laser_energy(cfg)


def input_sample_energy(cfg: Any) -> float:
    """DAC + modulator energy per input sample (J)."""
    c = cfg.converters
    return float(c.dac_energy_j) + float(c.modulator_energy_j)


def adc_energy(cfg: Any) -> float:
    """Energy of one ADC conversion at the config's resolution and sample rate (J)."""
    c = cfg.converters
    e = float(c.adc_energy_j)
    ref = float(_get(cfg, "converters.adc_ref_hz"))
    if ref > 0:
        e *= max(1.0, float(cfg.optics.clock_hz) / ref)
    fom = float(_get(cfg, "converters.adc_schreier_db"))
    if fom > 0:
        sndr = 6.02 * int(c.adc_bits) + 1.76
        e = max(e, 0.5 * 10.0 ** ((sndr - fom) / 10.0))
    return e


def output_conversion_energy(cfg: Any) -> float:
    """ADC + photodiode + TIA energy per output conversion (J), laser excluded."""
    c = cfg.converters
    return adc_energy(cfg) + float(c.pd_energy_j) + float(c.tia_energy_j)


def mvm_energy(cfg: Any, m: int, k: int, n: int, batch: int = 1,
               dynamic: bool = False) -> Dict[str, float]:
    """Bottom-up joules by component of ``batch`` optical products ``[m,k] @ [k,n]``.

    ``dynamic=True`` (both operands change every call, run optically): the second operand is
    also driven through modulators, ``batch*k*n`` extra DAC samples per call.
    """
    c = mvm_counts(cfg, m, k, n, batch)
    dac_samples = c["dac_samples"] + (int(batch) * int(k) * int(n) if dynamic else 0)
    sram_j_per_bit = float(_get(cfg, "host.sram_pj_per_bit")) * 1e-12
    cw = _get(cfg, "power.laser") == "cw"     # a CW laser is static power, not per conversion
    return {
        "laser": 0.0 if cw else c["adc_conversions"] * laser_energy_per_conversion(cfg),
        "dac": dac_samples * input_sample_energy(cfg),
        "adc": c["adc_conversions"] * output_conversion_energy(cfg),
        "digital": c["adc_conversions"] * float(_get(cfg, "converters.accumulate_energy_j")),
        "memory": (c["act_bits_in"] + c["act_bits_out"]) * sram_j_per_bit,
    }


def mvm_latency(cfg: Any, m: int, k: int, n: int, batch: int = 1) -> float:
    """Seconds for ``batch`` products ``[m,k] @ [k,n]`` (see module docstring)."""
    c = mvm_counts(cfg, m, k, n, batch)
    tiles = c["k_tiles"] * c["n_tiles"]
    if tiles == 0 or m == 0 or batch == 0:
        return 0.0
    parallel = min(int(_get(cfg, "array.tiles_in_parallel")) * int(_get(cfg, "chips")), tiles)
    wdm = int(cfg.optics.wdm_channels)
    cycles = _ceil_div(int(m) * int(batch), wdm) * _ceil_div(tiles, parallel)
    return cycles / float(cfg.optics.clock_hz)


def _claim(cfg: Any):
    cl = getattr(cfg, "claim", None)
    if cl is None:
        return None
    return cl


def claim_energy(cfg: Any, macs: float) -> Optional[float]:
    """Joules for ``macs`` MACs at the vendor's TOPS/W (None if the config has no claim)."""
    cl = _claim(cfg)
    if cl is None:
        return None
    return 2.0 * float(macs) / (float(cl.tops_per_watt) * 1e12)


def claim_latency(cfg: Any, macs: float) -> Optional[float]:
    """Seconds for ``macs`` MACs at the vendor's POPS (None if the config has no claim)."""
    cl = _claim(cfg)
    if cl is None:
        return None
    return 2.0 * float(macs) / (float(cl.pops) * 1e15)


def program_energy(cfg: Any, cells: float) -> float:
    """Joules to write ``cells`` PCM cells."""
    return float(cells) * float(cfg.pcm.write_energy_j)


def program_time(cfg: Any, cells: float) -> float:
    """Seconds to write ``cells`` cells with ``parallel_writers`` per chip on every chip."""
    if cells <= 0:
        return 0.0
    writers = int(_get(cfg, "pcm.parallel_writers")) * int(_get(cfg, "chips"))
    return math.ceil(float(cells) / writers) * float(cfg.pcm.write_time_s)


def host_energy(cfg: Any, flops: float, bytes_moved: float) -> float:
    """Joules of an op on the electronic host."""
    return (float(flops) * float(_get(cfg, "host.energy_per_flop_j"))
            + float(bytes_moved) * float(_get(cfg, "host.energy_per_byte_j")))


def _tier_bytes_per_s(cfg: Any, tier: str) -> Optional[float]:
    mem = getattr(cfg, "memory", None)
    if mem is None or tier not in mem.gb_per_s:
        return None
    return float(mem.gb_per_s[tier]) * 1e9


def host_seconds(cfg: Any, flops: float, bytes_moved: float, calls: int = 1) -> float:
    """Seconds of ``calls`` host ops doing ``flops`` and moving ``bytes_moved`` (HBM)."""
    t = int(calls) * float(_get(cfg, "host.op_overhead_s"))
    bw = _tier_bytes_per_s(cfg, "hbm")
    return t + max(float(flops) / float(_get(cfg, "host.flop_per_s")),
                   float(bytes_moved) / bw if bw else 0.0)


def kv_seconds(cfg: Any, bytes_moved: float, tier: Optional[str] = None) -> float:
    """Seconds of KV-cache traffic at the tier's bandwidth (one host)."""
    bw = _tier_bytes_per_s(cfg, tier or _get(cfg, "host.kv_tier"))
    return float(bytes_moved) / bw if bw else 0.0


def tier_pj_per_bit(cfg: Any, tier: Optional[str] = None) -> float:
    """pJ/bit of a memory tier (default: the config's ``host.kv_tier``)."""
    tiers = dict(_get(cfg, "host.tier_pj_per_bit"))
    tier = tier or _get(cfg, "host.kv_tier")
    if tier not in tiers:
        raise ValueError(f"unknown memory tier {tier!r}; known: {sorted(tiers)}")
    return float(tiers[tier])


def kv_energy(cfg: Any, bytes_moved: float, tier: Optional[str] = None) -> float:
    """Joules of KV-cache traffic at the configured tier."""
    return float(bytes_moved) * 8.0 * tier_pj_per_bit(cfg, tier) * 1e-12


def capacity_cells(cfg: Any) -> int:
    """PCM cells on all the configured chips."""
    return int(_get(cfg, "chips")) * int(cfg.array.cells_per_chip)


def energy_per_mac(cfg: Any, include_memory: bool = False,
                   tile_rows: Optional[int] = None, tile_cols: Optional[int] = None) -> float:
    """Joules per MAC of a fully used tile (optionally with another tile shape)."""
    rows = int(tile_rows or cfg.array.tile_rows)
    cols = int(tile_cols or cfg.array.tile_cols)
    e_in = input_sample_energy(cfg)
    e_out = (output_conversion_energy(cfg) + laser_energy_per_conversion(cfg)
             + float(_get(cfg, "converters.accumulate_energy_j")))
    e = (rows * e_in + cols * e_out) / (rows * cols)
    if include_memory:
        sram = float(_get(cfg, "host.sram_pj_per_bit")) * 1e-12
        e += (rows * int(cfg.converters.dac_bits) + cols * int(cfg.converters.adc_bits)) \
            * sram / (rows * cols)
    return e


def peak(cfg: Any, mode: str = "bottom_up", warn: bool = True) -> Dict[str, Any]:
    """Full-utilisation figures of a config.

    ``bottom_up``: ``tops_per_watt`` (core: laser + converters, the figure the README quotes),
    ``tops_per_watt_with_memory`` (+ activation SRAM), ``pops`` (all chips, all parallel
    tiles), ``pops_per_tile``, ``fj_per_mac``. ``claim``: the vendor's figures (None without a
    claim). Warns (UserWarning) when bottom-up exceeds :data:`PHYSICAL_LIMIT_TOPS_PER_WATT`.
    """
    rows, cols = tile_shape(cfg)
    wdm = int(cfg.optics.wdm_channels)
    clock = float(cfg.optics.clock_hz)
    per_tile = 2.0 * rows * cols * clock * wdm / 1e15
    tiles = int(_get(cfg, "array.tiles_in_parallel")) * int(_get(cfg, "chips"))
    if mode == "claim":
        cl = _claim(cfg)
        if cl is None:
            return dict(mode="claim", tops_per_watt=None, pops=None, source=None)
        return dict(mode="claim", tops_per_watt=float(cl.tops_per_watt), pops=float(cl.pops),
                    source=getattr(cl, "source", None))
    if mode != "bottom_up":
        raise ValueError(f"mode must be 'bottom_up' or 'claim', got {mode!r}")
    e_core = energy_per_mac(cfg)
    e_mem = energy_per_mac(cfg, include_memory=True)
    tpw = 2.0 / e_core / 1e12
    out = dict(mode="bottom_up", tops_per_watt=tpw, tops_per_watt_with_memory=2.0 / e_mem / 1e12,
               pops=per_tile * tiles, pops_per_tile=per_tile, fj_per_mac=e_core * 1e15,
               fj_per_mac_with_memory=e_mem * 1e15)
    if warn and tpw > PHYSICAL_LIMIT_TOPS_PER_WATT:
        warnings.warn(
            f"{getattr(cfg, 'name', 'config')}: bottom-up {tpw:.3g} TOPS/W exceeds the "
            f"{PHYSICAL_LIMIT_TOPS_PER_WATT:.0e} TOPS/W physical limit (10 fJ converters, "
            f"shot-limited light; see PHYSICAL_LIMIT_TOPS_PER_WATT)",
            UserWarning, stacklevel=2)
    return out


def energy_per_mac_vs_fanin(cfg: Any, widths: Iterable[int] = (8, 32, 128, 512, 1024, 4096)
                            ) -> List[Dict[str, float]]:
    """Core J/MAC of square tiles of each width: converters dominate, so it falls ~1/N."""
    rows = []
    for w in widths:
        e = energy_per_mac(cfg, tile_rows=int(w), tile_cols=int(w))
        rows.append(dict(width=int(w), fj_per_mac=e * 1e15, tops_per_watt=2.0 / e / 1e12))
    return rows
