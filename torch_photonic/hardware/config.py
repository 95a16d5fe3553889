"""Hardware description of an emulated photonic PCM accelerator.

:class:`HardwareConfig` is a frozen dataclass of frozen groups, laid out the way a hardware
engineer thinks about the chip (see docs/design.md for the field list and the noise
definitions). Everything is validated at construction; an impossible value raises
``ValueError`` naming the field (``"pcm.levels must be >= 2, got 0"``).

Overrides use ``group__field=value`` (or a top-level field name)::

    cfg2 = cfg.replace(pcm__program_noise=0.0, converters__adc_bits=6, chips=4)

Conventions used by the kernels (torch_photonic/optics/kernels.py, csrc/optical/):

* A tile holds ``tile_rows`` inputs (fan-in, the K direction) x ``tile_cols`` outputs (the N
  direction) *weights*; a weight takes ``cells_per_weight`` PCM cells (2 = differential pair
  for signed weights, 1 = one cell with a mid-level offset).
* ``pcm.levels`` is the number of distinguishable conductance levels of one cell;
  ``pcm.quantize_levels`` switches the rounding onto those levels on/off.
* ``pcm`` noise: programming noise, 1/f read noise and drift as functions of the conductance
  (the PCM model of docs/design.md); all zero coefficients switch a term off.
* ``mapping``: inputs are scaled per token and k-tile (``input_range = "dynamic"``: their abs-max;
  ``"static"``: one calibrated range per tile), optionally to a power of two
  (``block_exponent``); the ADC full scale is ``adc_full_scale`` normalised partial-sum units
  (inputs scaled to |x| <= 1, conductances to |g| <= 1, so a tile's largest possible value is
  ``tile_rows``) or calibrated per column (``adc_range = "calibrated"``).
* ``optics``: the link budget (laser power, losses, receiver) that sets shot and receiver noise
  and the laser energy alike (torch_photonic/hardware/photon_budget.py).
* ``converters.dac_rounding`` / ``converters.adc_rounding`` switch the uniform converter
  rounding (and, for the ADC, the clipping at full scale) on/off.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Mapping, Optional, Tuple

from .checks import (INT64_MAX, FrozenDict, boolean, one_of, fail, non_negative, positive,
                     integer, integer_at_least, integer_in, number, number_tuple)
from .names import (ADC_RANGES, DRIFT_COMPENSATIONS, DYNAMIC_MODES, FORMATS, INPUT_RANGES,
                    LASER_MODES, MODES, SCALE_RULES, SCALINGS)

__all__ = [
    "ArrayConfig", "PCMConfig", "ConverterConfig", "MappingConfig", "OpticsConfig",
    "FormatConfig",
    "HostConfig", "DynamicConfig", "ClaimConfig", "PowerConfig", "InterconnectConfig",
    "MemoryConfig", "CostConfig", "HardwareConfig", "FrozenDict",
    "FORMATS", "SCALINGS", "SCALE_RULES",
]


def _integer_fields(obj: Any, prefix: str) -> None:
    """Every field annotated ``int`` holds a plain ``int``: NumPy integers become ``int``;
    floats (``128.0`` too), bools and anything else fail naming the field."""
    for f in fields(obj):
        if f.type in ("int", int):
            object.__setattr__(obj, f.name, integer(f"{prefix}{f.name}", getattr(obj, f.name)))


class _Group:
    """Mixin: validation hook and dict conversion for the frozen groups."""

    _group = ""

    def __post_init__(self):
        _integer_fields(self, f"{self._group}.")
        self._validate(self._group)

    def _validate(self, p: str):  # pragma: no cover - overridden
        pass

    def to_dict(self) -> Dict[str, Any]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = dict(v) if isinstance(v, dict) else v
        return out


# ----------------------------------------------------------------------------------- groups
@dataclass(frozen=True)
class ArrayConfig(_Group):
    tile_rows: int                 # inputs per tile (fan-in, K direction), in weights
    tile_cols: int                 # outputs per tile (N direction), in weights
    tiles_per_chip: int
    cells_per_chip: int            # PCM cells on one chip
    cells_per_weight: int          # 2 = differential pair (signed), 1 = offset single cell
    chip_area_mm2: float
    tiles_in_parallel: int         # tiles that run in the same clock cycle
    _group = "array"

    def _validate(self, p):
        integer_at_least(f"{p}.tile_rows", self.tile_rows, 1)
        integer_at_least(f"{p}.tile_cols", self.tile_cols, 1)
        integer_at_least(f"{p}.tiles_per_chip", self.tiles_per_chip, 1)
        integer_at_least(f"{p}.cells_per_chip", self.cells_per_chip, 1)
        if self.cells_per_weight not in (1, 2) or isinstance(self.cells_per_weight, bool):
            fail(f"{p}.cells_per_weight", "must be 1 or 2", self.cells_per_weight)
        positive(f"{p}.chip_area_mm2", self.chip_area_mm2)
        integer_at_least(f"{p}.tiles_in_parallel", self.tiles_in_parallel, 1)
        tile_cells = self.tile_rows * self.tile_cols * self.cells_per_weight
        if tile_cells > self.cells_per_chip:
            fail(f"{p}.tile_rows x tile_cols",
                  f"({self.tile_rows}x{self.tile_cols} weights x {self.cells_per_weight} "
                  f"cells = {tile_cells} cells) is larger than {p}.cells_per_chip "
                  f"({self.cells_per_chip})", (self.tile_rows, self.tile_cols))
        if self.tiles_per_chip * tile_cells > self.cells_per_chip:
            fail(f"{p}.tiles_per_chip",
                  f"x {tile_cells} cells per tile exceeds {p}.cells_per_chip "
                  f"({self.cells_per_chip})", self.tiles_per_chip)
        if self.tiles_in_parallel > self.tiles_per_chip:
            fail(f"{p}.tiles_in_parallel", f"must be <= {p}.tiles_per_chip "
                  f"({self.tiles_per_chip})", self.tiles_in_parallel)

    @property
    def cells_per_tile(self) -> int:
        return self.tile_rows * self.tile_cols * self.cells_per_weight


@dataclass(frozen=True)
class PCMConfig(_Group):
    levels: int                    # distinguishable conductance levels per cell
    # programming noise sigma(g) = c0 + c1 g + c2 g^2 (fraction of the cell's full range) at
    # the target conductance g in [0, 1]
    program_noise_coeffs: Tuple[float, float, float]
    # accumulated 1/f read noise: q(g) = min(q0 / g^q_exponent, q_max),
    # sigma = g q sqrt(ln((t + t_read) / (2 t_read))) at t seconds after programming + t0
    read_noise_q0: float
    read_noise_q_exponent: float
    read_noise_q_max: float
    read_time_s: float
    # drift g(t) = g0 (t / t0)^-nu, nu = |mu(g) + sd(g) z|, mu = clamp(a ln g + b, range)
    drift_nu_coeffs: Tuple[float, float]
    drift_nu_range: Tuple[float, float]
    drift_nu_std_coeffs: Tuple[float, float]
    drift_nu_std_range: Tuple[float, float]
    drift_t0_s: float
    drift_compensation: str        # "none" | "global" | "per_column"
    write_energy_j: float          # per cell write
    write_time_s: float            # per cell write
    endurance_cycles: float
    parallel_writers: int
    quantize_levels: bool = True   # round programmed weights onto the `levels` grid
    _group = "pcm"

    def __post_init__(self):
        for n, size in (("program_noise_coeffs", 3), ("drift_nu_coeffs", 2),
                        ("drift_nu_range", 2), ("drift_nu_std_coeffs", 2),
                        ("drift_nu_std_range", 2)):
            object.__setattr__(self, n, number_tuple(f"{self._group}.{n}", getattr(self, n),
                                                     size))
        super().__post_init__()

    def _validate(self, p):
        integer_at_least(f"{p}.levels", self.levels, 2)
        if self.levels > 256:
            fail(f"{p}.levels", "must be <= 256 (codes are stored as 8-bit)", self.levels)
        if self.program_noise_coeffs[0] < 0 or any(
                self.program_sigma(g) < 0 for g in (0.0, 0.25, 0.5, 0.75, 1.0)):
            fail(f"{p}.program_noise_coeffs", "must give sigma(g) >= 0 on [0, 1]",
                 self.program_noise_coeffs)
        for n in ("read_noise_q0", "read_noise_q_exponent", "read_noise_q_max",
                  "write_energy_j", "write_time_s"):
            non_negative(f"{p}.{n}", getattr(self, n))
        positive(f"{p}.read_time_s", self.read_time_s)
        for n in ("drift_nu_range", "drift_nu_std_range"):
            lo, hi = getattr(self, n)
            if lo < 0 or hi < lo:
                fail(f"{p}.{n}", "must be [lo, hi] with 0 <= lo <= hi", getattr(self, n))
        positive(f"{p}.drift_t0_s", self.drift_t0_s)
        one_of(f"{p}.drift_compensation", self.drift_compensation, DRIFT_COMPENSATIONS)
        positive(f"{p}.endurance_cycles", self.endurance_cycles)
        boolean(f"{p}.quantize_levels", self.quantize_levels)
        integer_at_least(f"{p}.parallel_writers", self.parallel_writers, 1)

    def program_sigma(self, g: float) -> float:
        """Programming-noise sigma at target conductance ``g`` (fraction of the range)."""
        c0, c1, c2 = self.program_noise_coeffs
        return c0 + c1 * g + c2 * g * g

    @property
    def drifts(self) -> bool:
        """True if conductances drift (some cell has nu > 0)."""
        return any(v != 0 for v in self.drift_nu_range + self.drift_nu_std_range)

    @property
    def read_noisy(self) -> bool:
        return self.read_noise_q0 > 0 and self.read_noise_q_max > 0

    @property
    def ages(self) -> bool:
        """True if the cells change after programming (drift or accumulated read noise)."""
        return self.drifts or self.read_noisy


@dataclass(frozen=True)
class ConverterConfig(_Group):
    dac_bits: int
    dac_energy_j: float
    modulator_energy_j: float
    adc_bits: int
    adc_energy_j: float
    pd_energy_j: float
    tia_energy_j: float
    dac_rounding: bool = True           # uniform DAC rounding to dac_bits
    adc_rounding: bool = True           # ADC rounding to adc_bits and clipping at full scale
    latency_s: float = 0.0              # DAC in to digital sum out, beyond the optical pass
    # adc_energy_j is quoted up to this sample rate and grows in proportion above it (0: fixed)
    adc_ref_hz: float = 0.0
    # Schreier figure of merit bounding the ADC's energy from below at high resolution (0: none)
    adc_schreier_db: float = 0.0
    accumulate_energy_j: float = 0.0    # digital addition of one partial sum into its output
    _group = "converters"

    def _validate(self, p):
        integer_at_least(f"{p}.dac_bits", self.dac_bits, 2)
        integer_at_least(f"{p}.adc_bits", self.adc_bits, 2)
        if self.dac_bits > 23:
            fail(f"{p}.dac_bits", "must be <= 23", self.dac_bits)
        if self.adc_bits > 23:
            fail(f"{p}.adc_bits", "must be <= 23", self.adc_bits)
        for n in ("dac_energy_j", "modulator_energy_j", "adc_energy_j", "pd_energy_j",
                  "tia_energy_j"):
            non_negative(f"{p}.{n}", getattr(self, n))
        boolean(f"{p}.dac_rounding", self.dac_rounding)
        boolean(f"{p}.adc_rounding", self.adc_rounding)
        non_negative(f"{p}.latency_s", self.latency_s)
        non_negative(f"{p}.adc_ref_hz", self.adc_ref_hz)
        non_negative(f"{p}.adc_schreier_db", self.adc_schreier_db)
        non_negative(f"{p}.accumulate_energy_j", self.accumulate_energy_j)


@dataclass(frozen=True)
class MappingConfig(_Group):
    """How a layer meets the array: per-tile input gains, ADC ranges, bound management."""
    adc_full_scale: float               # ADC full scale in normalised partial-sum units
    input_range: str = "dynamic"        # "dynamic": per token and tile abs-max; "static": per tile
    block_exponent: bool = False        # gains rounded up to a power of two (block floating point)
    input_percentile: float = 99.99     # static ranges: this percentile of |x| per tile
    adc_range: str = "fixed"            # "fixed": adc_full_scale; "calibrated": per column
    adc_percentile: float = 99.99       # calibrated ADC ranges: this percentile of |y| per column
    bound_management: int = 0           # redo a saturated (token, tile) at half input scale, n times
    _group = "mapping"

    def _validate(self, p):
        one_of(f"{p}.input_range", self.input_range, INPUT_RANGES)
        boolean(f"{p}.block_exponent", self.block_exponent)
        one_of(f"{p}.adc_range", self.adc_range, ADC_RANGES)
        positive(f"{p}.adc_full_scale", self.adc_full_scale)
        for n in ("input_percentile", "adc_percentile"):
            v = getattr(self, n)
            positive(f"{p}.{n}", v)
            if v > 100:
                fail(f"{p}.{n}", "must be a percentile in (0, 100]", v)
        integer_at_least(f"{p}.bound_management", self.bound_management, 0)

    @property
    def needs_calibration(self) -> bool:
        return self.input_range == "static" or self.adc_range == "calibrated"


@dataclass(frozen=True)
class OpticsConfig(_Group):
    laser_power_w: float           # optical laser power per chip (all wavelengths)
    wall_plug_efficiency: float
    coupler_loss_db: float         # laser to chip
    modulator_loss_db: float       # insertion loss of an input modulator
    splitter_excess_loss_db: float # excess loss of one 1x2 splitter stage
    crossing_loss_db: float        # per waveguide crossing
    waveguide_loss_db_per_cm: float
    responsivity_a_per_w: float
    tia_noise_a_per_rthz: float    # receiver input-referred current noise density
    wdm_channels: int
    clock_hz: float
    wavelength_m: float
    shot_noise: bool = True        # photon shot noise at the detectors
    _group = "optics"

    def _validate(self, p):
        non_negative(f"{p}.laser_power_w", self.laser_power_w)
        positive(f"{p}.wall_plug_efficiency", self.wall_plug_efficiency)
        if self.wall_plug_efficiency > 1:
            fail(f"{p}.wall_plug_efficiency", "must be <= 1", self.wall_plug_efficiency)
        for n in ("coupler_loss_db", "modulator_loss_db", "splitter_excess_loss_db",
                  "crossing_loss_db", "waveguide_loss_db_per_cm", "tia_noise_a_per_rthz"):
            non_negative(f"{p}.{n}", getattr(self, n))
        positive(f"{p}.responsivity_a_per_w", self.responsivity_a_per_w)
        integer_at_least(f"{p}.wdm_channels", self.wdm_channels, 1)
        positive(f"{p}.clock_hz", self.clock_hz)
        positive(f"{p}.wavelength_m", self.wavelength_m)
        boolean(f"{p}.shot_noise", self.shot_noise)


@dataclass(frozen=True)
class FormatConfig(_Group):
    weight_format: str = "none"       # "none" = exact float32
    weight_scaling: str = "none"
    activation_format: str = "none"
    activation_scaling: str = "none"
    scale_rule: str = "floor"
    _group = "formats"

    def _validate(self, p):
        one_of(f"{p}.weight_format", self.weight_format, FORMATS)
        one_of(f"{p}.activation_format", self.activation_format, FORMATS)
        one_of(f"{p}.weight_scaling", self.weight_scaling, SCALINGS)
        one_of(f"{p}.activation_scaling", self.activation_scaling, SCALINGS)
        one_of(f"{p}.scale_rule", self.scale_rule, SCALE_RULES)


@dataclass(frozen=True)
class HostConfig(_Group):
    energy_per_flop_j: float
    energy_per_byte_j: float
    sram_pj_per_bit: float
    kv_tier: str
    tier_pj_per_bit: Mapping[str, float]
    flop_per_s: float = 6.8254e14      # host compute throughput on dense products
    op_overhead_s: float = 2.0e-6      # fixed time of one host op (launch and synchronisation)
    _group = "host"

    def __post_init__(self):
        object.__setattr__(self, "tier_pj_per_bit", FrozenDict(self.tier_pj_per_bit))
        super().__post_init__()

    def _validate(self, p):
        non_negative(f"{p}.energy_per_flop_j", self.energy_per_flop_j)
        non_negative(f"{p}.energy_per_byte_j", self.energy_per_byte_j)
        non_negative(f"{p}.sram_pj_per_bit", self.sram_pj_per_bit)
        for k, v in self.tier_pj_per_bit.items():
            non_negative(f"{p}.tier_pj_per_bit[{k!r}]", v)
        if self.kv_tier not in self.tier_pj_per_bit:
            fail(f"{p}.kv_tier", f"must be one of {sorted(self.tier_pj_per_bit)}", self.kv_tier)
        positive(f"{p}.flop_per_s", self.flop_per_s)
        non_negative(f"{p}.op_overhead_s", self.op_overhead_s)


@dataclass(frozen=True)
class DynamicConfig(_Group):
    mode: str = "electronic"          # where attention's dynamic products run
    _group = "dynamic"

    def _validate(self, p):
        one_of(f"{p}.mode", self.mode, DYNAMIC_MODES)


@dataclass(frozen=True)
class ClaimConfig(_Group):
    tops_per_watt: float
    pops: float
    source: str
    _group = "claim"

    def _validate(self, p):
        positive(f"{p}.tops_per_watt", self.tops_per_watt)
        positive(f"{p}.pops", self.pops)


@dataclass(frozen=True)
class PowerConfig(_Group):
    """Static power: drawn for as long as the system is on, whether or not it computes.

    Per chip unless named otherwise. ``laser = "cw"``: the lasers run continuously, their whole
    wall power is static and no laser energy is charged per conversion; ``"gated"``: the lasers
    switch with the work (charged per conversion) and draw ``laser_idle_fraction`` of their
    on-power while idle (a laser biased at threshold between pulses).
    """
    laser: str = "gated"               # "gated" | "cw"
    laser_idle_fraction: float = 0.0   # gated: share of the laser's on-power drawn while idle
    driver_w: float = 0.0              # per input modulator: driver into its terminated line
    receiver_w: float = 0.0            # per output channel: TIA and ADC bias
    clock_w: float = 0.0               # clock generation and distribution
    rings_per_chip: int = 0            # resonators held on resonance by heaters
    tuning_w_per_ring: float = 0.0
    control_w: float = 0.0             # digital control, write controller, SRAM leakage
    host_idle_w: float = 0.0           # per host, while it waits
    chips_per_host: int = 8            # photonic chips served by one host
    _group = "power"

    def _validate(self, p):
        one_of(f"{p}.laser", self.laser, LASER_MODES)
        non_negative(f"{p}.laser_idle_fraction", self.laser_idle_fraction)
        if self.laser_idle_fraction > 1:
            fail(f"{p}.laser_idle_fraction", "must be <= 1", self.laser_idle_fraction)
        for n in ("driver_w", "receiver_w", "clock_w", "tuning_w_per_ring", "control_w",
                  "host_idle_w"):
            non_negative(f"{p}.{n}", getattr(self, n))
        integer_at_least(f"{p}.rings_per_chip", self.rings_per_chip, 0)
        integer_at_least(f"{p}.chips_per_host", self.chips_per_host, 1)


@dataclass(frozen=True)
class InterconnectConfig(_Group):
    """Links between chips and to their hosts: inside a supernode (one optical switch stage) and
    beyond it (scale-out network). Bandwidth is per chip and direction."""
    pj_per_bit: float = 5.0
    gb_per_s: float = 400.0
    latency_s: float = 1.0e-6           # one transfer, before serialisation
    supernode_chips: int = 384
    scaleout_pj_per_bit: float = 20.0
    scaleout_gb_per_s: float = 50.0
    scaleout_latency_s: float = 5.0e-6
    activation_bytes: int = 2          # bytes per activation crossing a link (bf16)
    _group = "interconnect"

    def _validate(self, p):
        for n in ("pj_per_bit", "latency_s", "scaleout_pj_per_bit", "scaleout_latency_s"):
            non_negative(f"{p}.{n}", getattr(self, n))
        positive(f"{p}.gb_per_s", self.gb_per_s)
        positive(f"{p}.scaleout_gb_per_s", self.scaleout_gb_per_s)
        integer_at_least(f"{p}.supernode_chips", self.supernode_chips, 1)
        integer_at_least(f"{p}.activation_bytes", self.activation_bytes, 1)


@dataclass(frozen=True)
class MemoryConfig(_Group):
    """Memory tiers of one host (capacity, bandwidth; energy per bit is ``host.tier_pj_per_bit``):
    the KV cache fills ``kv_tiers`` in order and spills to the next; weights that do not fit on
    the chips wait in ``weights_tier`` and are fetched from it when rewritten."""
    capacity_gb: Mapping[str, float] = field(default_factory=lambda: {
        "hbm": 80.0, "dram": 1024.0, "ssd": 30720.0})
    gb_per_s: Mapping[str, float] = field(default_factory=lambda: {
        "hbm": 3350.0, "dram": 460.0, "ssd": 28.0})
    kv_tiers: Tuple[str, ...] = ("hbm", "dram", "ssd")
    weights_tier: str = "dram"
    weight_bytes: float = 1.0          # bytes per weight held off-chip for rewriting
    kv_bytes: int = 2                  # bytes per cached K/V value
    _group = "memory"

    def __post_init__(self):
        object.__setattr__(self, "capacity_gb", FrozenDict(self.capacity_gb))
        object.__setattr__(self, "gb_per_s", FrozenDict(self.gb_per_s))
        if isinstance(self.kv_tiers, (list, tuple)):
            object.__setattr__(self, "kv_tiers", tuple(self.kv_tiers))
        super().__post_init__()

    def _validate(self, p):
        for k, v in self.capacity_gb.items():
            non_negative(f"{p}.capacity_gb[{k!r}]", v)
        for k, v in self.gb_per_s.items():
            positive(f"{p}.gb_per_s[{k!r}]", v)
        if set(self.capacity_gb) != set(self.gb_per_s):
            fail(f"{p}.gb_per_s", f"must name the same tiers as {p}.capacity_gb "
                 f"({sorted(self.capacity_gb)})", sorted(self.gb_per_s))
        if not isinstance(self.kv_tiers, tuple) or not self.kv_tiers:
            fail(f"{p}.kv_tiers", "must be a non-empty list of tier names", self.kv_tiers)
        for t in self.kv_tiers:
            one_of(f"{p}.kv_tiers", t, tuple(self.capacity_gb))
        one_of(f"{p}.weights_tier", self.weights_tier, tuple(self.capacity_gb))
        positive(f"{p}.weight_bytes", self.weight_bytes)
        integer_at_least(f"{p}.kv_bytes", self.kv_bytes, 1)


@dataclass(frozen=True)
class CostConfig(_Group):
    """What the system costs to own and run. A chip is its substrate, the CMOS of its converters
    and drivers (one input channel per tile row, one output channel per tile column) and its
    lasers; a host serves ``power.chips_per_host`` chips."""
    substrate_usd: float = 0.0          # the photonic substrate with its PCM cells, per chip
    cmos_mm2_per_channel: float = 0.0   # converter + driver silicon per input or output channel
    cmos_usd_per_mm2: float = 0.0
    laser_usd_per_w: float = 0.0        # per watt of optical laser power
    host_usd: float = 0.0               # per host
    amortization_years: float = 4.0
    usd_per_kwh: float = 0.08
    pue: float = 1.2
    utilization: float = 0.5            # share of the year the system serves tokens
    _group = "cost"

    def _validate(self, p):
        for n in ("substrate_usd", "cmos_mm2_per_channel", "cmos_usd_per_mm2", "laser_usd_per_w",
                  "host_usd", "usd_per_kwh"):
            non_negative(f"{p}.{n}", getattr(self, n))
        positive(f"{p}.amortization_years", self.amortization_years)
        positive(f"{p}.pue", self.pue)
        if self.pue < 1:
            fail(f"{p}.pue", "must be >= 1 (facility power includes the IT power)", self.pue)
        positive(f"{p}.utilization", self.utilization)
        if self.utilization > 1:
            fail(f"{p}.utilization", "must be <= 1", self.utilization)


_GROUPS = {
    "array": ArrayConfig, "pcm": PCMConfig, "converters": ConverterConfig,
    "mapping": MappingConfig, "optics": OpticsConfig, "formats": FormatConfig, "host": HostConfig,
    "dynamic": DynamicConfig, "claim": ClaimConfig, "power": PowerConfig,
    "interconnect": InterconnectConfig, "memory": MemoryConfig, "cost": CostConfig,
}


@dataclass(frozen=True)
class HardwareConfig:
    name: str
    description: str
    array: ArrayConfig
    pcm: PCMConfig
    converters: ConverterConfig
    optics: OpticsConfig
    formats: FormatConfig
    host: HostConfig
    mapping: MappingConfig
    dynamic: DynamicConfig = field(default_factory=DynamicConfig)
    claim: Optional[ClaimConfig] = None
    power: PowerConfig = field(default_factory=PowerConfig)
    interconnect: InterconnectConfig = field(default_factory=InterconnectConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    chips: int = 1
    mode: str = "bottom_up"
    sources: Mapping[str, str] = field(default_factory=dict)
    seed: int = 0                   # seed for programming noise and drift spread
    warn_rel_error: float = 0.25    # layers warn once above this relative output error

    def __hash__(self):  # cached: layers look their programmed state up by config
        h = self.__dict__.get("_hash_cache")
        if h is None:
            h = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, "_hash_cache", h)
        return h

    def __post_init__(self):
        object.__setattr__(self, "sources", FrozenDict(self.sources))
        for g, cls in _GROUPS.items():
            v = getattr(self, g)
            if g == "claim" and v is None:
                continue
            if isinstance(v, dict):
                v = _group_from_dict(g, cls, v)
                object.__setattr__(self, g, v)
            if not isinstance(v, cls):
                fail(g, f"must be a {cls.__name__}", type(v).__name__)
        if not isinstance(self.name, str) or not self.name:
            fail("name", "must be a non-empty string", self.name)
        _integer_fields(self, "")
        integer_at_least("chips", self.chips, 1)
        one_of("mode", self.mode, MODES)
        if self.mode == "claim" and self.claim is None:
            fail("mode", "is 'claim' but this config has no claim (ClaimConfig)", self.mode)
        integer_in("seed", self.seed, 0, INT64_MAX, " (it seeds int64 generators)")
        positive("warn_rel_error", self.warn_rel_error)

    # ------------------------------------------------------------------ derived quantities
    @property
    def cells_total(self) -> int:
        return self.chips * self.array.cells_per_chip

    @property
    def weight_capacity(self) -> int:
        """Weights resident at once (all chips)."""
        return self.cells_total // self.array.cells_per_weight

    @property
    def is_exact(self) -> bool:
        """True if the optical product reduces to fake_quantize(x) @ fake_quantize(W).T."""
        p, c, o, m = self.pcm, self.converters, self.optics, self.mapping
        return (not p.quantize_levels and not any(p.program_noise_coeffs) and not p.ages
                and not o.shot_noise and o.tia_noise_a_per_rthz == 0
                and not c.dac_rounding and not c.adc_rounding and m.input_range == "dynamic")

    # ------------------------------------------------------------------ overrides
    def replace(self, **overrides) -> "HardwareConfig":
        """New config with ``group__field=value`` or top-level ``field=value`` overrides."""
        top: Dict[str, Any] = {}
        per_group: Dict[str, Dict[str, Any]] = {}
        top_names = {f.name for f in fields(self)}
        for key, value in overrides.items():
            if "__" in key:
                g, f = key.split("__", 1)
                if g not in _GROUPS:
                    raise ValueError(f"unknown config group {g!r} in override {key!r}; "
                                     f"groups: {sorted(_GROUPS)}")
                cls = _GROUPS[g]
                names = {x.name for x in fields(cls)}
                if f not in names:
                    raise ValueError(f"unknown field {g}.{f} in override {key!r}; "
                                     f"{g} has {sorted(names)}")
                per_group.setdefault(g, {})[f] = value
            elif key in top_names:
                top[key] = value
            else:
                raise ValueError(f"unknown config field {key!r}; use group__field=value "
                                 f"(groups {sorted(_GROUPS)}) or one of {sorted(top_names)}")
        for g, kv in per_group.items():
            cur = getattr(self, g)
            if cur is None:
                if g == "claim":
                    cur_d = {}
                    top[g] = _group_from_dict(g, _GROUPS[g], {**cur_d, **kv})
                    continue
            top[g] = dataclasses.replace(cur, **kv)
        return dataclasses.replace(self, **top)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, _Group):
                out[f.name] = v.to_dict()
            elif isinstance(v, dict):
                out[f.name] = dict(v)
            else:
                out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "HardwareConfig":
        if not isinstance(d, Mapping):
            raise TypeError(f"HardwareConfig.from_dict expects a mapping, got {type(d).__name__}")
        names = {f.name: f for f in fields(cls)}
        unknown = set(d) - set(names)
        if unknown:
            raise ValueError(f"unknown HardwareConfig field(s) {sorted(unknown)}")
        kw: Dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in d:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ValueError(f"HardwareConfig: missing field {f.name!r}")
                continue
            v = d[f.name]
            if f.name in _GROUPS and v is not None:
                v = _group_from_dict(f.name, _GROUPS[f.name], v)
            kw[f.name] = v
        return cls(**kw)

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)


def _group_from_dict(g: str, gcls, d: Mapping[str, Any]):
    if isinstance(d, gcls):
        return d
    if not isinstance(d, Mapping):
        fail(g, "must be a table/mapping", d)
    names = {f.name for f in fields(gcls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown field(s) in {g}: {sorted(unknown)}; {g} has {sorted(names)}")
    for f in fields(gcls):
        if f.name not in d and f.default is dataclasses.MISSING \
                and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"HardwareConfig: missing field '{g}.{f.name}'")
    return gcls(**dict(d))
