"""Named hardware presets.

Every number carries a comment with its source and an entry in the preset's ``sources`` dict
(field path -> citation). Tags, as in shared/research/photonic_energy.md ("the note" below):
[P] peer-reviewed, [pre] preprint, [V] vendor claim (a claim, not a measurement),
[S] peer-simulator assumption, [D] derived or assumed here, [M] measured by this project.

``preset(name, **overrides)`` builds one (overrides as in :meth:`HardwareConfig.replace`);
``presets()`` lists the names.
"""
from __future__ import annotations

from typing import Callable, Dict, List

from .config import (ArrayConfig, ClaimConfig, ConverterConfig, DynamicConfig, FormatConfig,
                     HardwareConfig, HostConfig, OpticsConfig, PCMConfig)

__all__ = ["preset", "presets", "register_preset"]

NOTE = "shared/research/photonic_energy.md"
CAL_SRC = ("[D] design choice: ADC full scale = 4 RMS of the calibration partial sums; a sweep over "
           "3-12 RMS on Gaussian layers gave the lowest output error near 4 for all three presets "
           "(thermal noise grows with full scale, clipping below ~3)")

# ----------------------------------------------------------------- shared host / memory numbers
_HOST = dict(
    # H100 SXM measured 0.97 TFLOP/J at BF16 (8192^3 GEMM) -> 1.03 pJ/FLOP [M] (note §3)
    energy_per_flop_j=1.03e-12,
    # HBM2 ~3.9 pJ/bit (O'Connor, MICRO'17) [P] -> 31.2 pJ/byte (note §2, §8)
    energy_per_byte_j=31.2e-12,
    # SRAM ~0.10 pJ/bit (Lightening-Transformer, CACTI) [S] (note §2, §8)
    sram_pj_per_bit=0.1,
    kv_tier="hbm",  # KV cache lives in HBM (design choice [D])
    tier_pj_per_bit={
        "sram": 0.1,   # LT / CACTI [S] (note §2)
        "hbm": 3.9,    # O'Connor MICRO'17 [P] (note §2)
        "dram": 3.9,   # LT / CACTI DRAM ~3.9 pJ/bit [S] (note §2)
        "ssd": 180.0,  # [D] assumption: ~10 W NVMe drive at ~7 GB/s -> ~180 pJ/bit; not in the note
    },
)
_HOST_SOURCES = {
    "host.energy_per_flop_j": f"[M] H100 SXM 0.97 TFLOP/J BF16 -> 1.03 pJ/FLOP ({NOTE} §3)",
    "host.energy_per_byte_j": f"[P] HBM2 3.9 pJ/bit, O'Connor MICRO'17 -> 31.2 pJ/B ({NOTE} §2)",
    "host.sram_pj_per_bit": f"[S] SRAM 0.10 pJ/bit, Lightening-Transformer/CACTI ({NOTE} §2)",
    "host.kv_tier": "[D] design choice: KV cache in HBM",
    "host.tier_pj_per_bit.sram": f"[S] LT/CACTI 0.10 pJ/bit ({NOTE} §2)",
    "host.tier_pj_per_bit.hbm": f"[P] O'Connor MICRO'17 3.9 pJ/bit ({NOTE} §2)",
    "host.tier_pj_per_bit.dram": f"[S] LT/CACTI DRAM 3.9 pJ/bit ({NOTE} §2)",
    "host.tier_pj_per_bit.ssd": "[D] assumption: ~10 W NVMe at ~7 GB/s ~ 180 pJ/bit (not in the note)",
}

_DRIFT_SOURCES = {
    "pcm.drift_nu": (f"[P] optically read photonic PCM reported drift-free (Rios, Sci. Adv. 2019; "
                     f"{NOTE} §2, §7): nu = 0 is a knob; electrical PCM has nu 0.049-0.10 "
                     f"(aihwkit / Nandakumar; Khan et al.)"),
    "pcm.drift_nu_std": f"[P] 0 with nu = 0; electrical PCM sigma_nu 0.008-0.045 ({NOTE} §2)",
    "pcm.drift_t0_s": f"[P] t0 = 20 s as in aihwkit PCM model ({NOTE} §2)",
    "pcm.drift_compensation": "[D] off: nothing to compensate at nu = 0",
}


def _glass() -> HardwareConfig:
    src = {
        "array.tile_rows": f"[D] 1024-wide fan-in tiles ({NOTE} §8, §4: needed for the claim)",
        "array.tile_cols": f"[D] 1024 outputs per tile ({NOTE} §8)",
        "array.tiles_per_chip": "[D] floor(6.5e8 cells / (1024*1024 weights * 2 cells)) = 309",
        "array.cells_per_chip": f"[V] 6.5e8 PCM cells, 光本位 glass panel claim ({NOTE} §3)",
        "array.cells_per_weight": "[D] differential pair (balanced detection) for signed weights",
        "array.chip_area_mm2": f"[V] 200 mm x 200 mm glass substrate ({NOTE} §3)",
        "array.tiles_in_parallel": f"[D] all tiles each cycle: 2600 POPS = 6.5e8 cells x 2 GHz ({NOTE} §4)",
        "pcm.levels": f"[P] GSST/Sb2Se3 class, 16-32 levels; Sb2S3 5 b (Chen, Nat. Commun. 2023) ({NOTE} §2, §8)",
        "pcm.program_noise": f"[D] sigma_prog ~ 1/2 LSB of 32 levels = 0.5/31 ({NOTE} §7)",
        "pcm.read_noise_shot": f"[D] shot limit: b-bit readout ~2^(2b) photons -> c = 2^-8 ({NOTE} §6)",
        "pcm.read_noise_thermal": "[D] receiver floor sized to ~1/2 LSB of the 8-bit ADC: 2^-8",
        "pcm.write_energy_j": f"[D] 100 pJ per cell write ({NOTE} §8; photonic PCM 1-13 pJ optical, nJ heaters §2)",
        "pcm.write_time_s": f"[D] 1 us per write, electrical heater class ({NOTE} §8, §2)",
        "pcm.endurance_cycles": f"[D] 1e6 cycles ({NOTE} §8; Sb2Se3/ITO 1.4e8 [pre] §2)",
        "pcm.parallel_writers": "[D] assumption: one write driver per tile column (1024); not in the note",
        "converters.dac_bits": f"[D] 8-bit inputs ({NOTE} §8)",
        "converters.dac_energy_j": f"[P/D] 1.0 pJ per sample ({NOTE} §8; 3.6 pJ SimPhony dac.yml §2)",
        "converters.modulator_energy_j": f"[pre] 0.05 pJ, TFLN tens of fJ/symbol (HITOP 2025) ({NOTE} §2, §8)",
        "converters.adc_bits": f"[D] 8-bit outputs ({NOTE} §8)",
        "converters.adc_energy_j": f"[P] 1.0 pJ/conv, Murmann survey floor at >=1 GS/s ({NOTE} §2, §8)",
        "converters.pd_energy_j": f"[D] 0.1 pJ ({NOTE} §8)",
        "converters.tia_energy_j": f"[D] 0.3 pJ ({NOTE} §8)",
        "converters.adc_full_scale": "[D] calibrated per tile from the first batch",
        "converters.adc_calibration_sigma": CAL_SRC,
        "optics.laser_model": f"[D] shot-limited laser ({NOTE} §8)",
        "optics.wall_plug_efficiency": f"[D] 0.3 ({NOTE} §8; peers use 0.2 [S])",
        "optics.insertion_loss_db": f"[D] 6 dB total ({NOTE} §8)",
        "optics.waveguide_loss_db_per_cm": f"[P] 0.1 dB/cm glass ion exchange (Najafi) ({NOTE} §2, §8)",
        "optics.responsivity_a_per_w": "[D] assumption: ~1 A/W Ge/InGaAs photodiode at 1550 nm; not in the note",
        "optics.receiver_sensitivity_dbm": f"[S] -25 dBm, LT laser sizing rule ({NOTE} §2)",
        "optics.wdm_channels": f"[D] 1, broadcast fan-out ({NOTE} §8)",
        "optics.clock_hz": f"[D] 2 GHz derived from the 2600 POPS claim ({NOTE} §4, §8)",
        "optics.wavelength_m": "[D] assumption: C-band 1550 nm",
        "formats": "[D] exact digital formats; precision set by DAC bits, PCM levels and ADC bits",
        "claim": f"[V] 光本位 seed article 2026: 2600 POPS, >1000 TOPS/W; not found in corpus ({NOTE} §3)",
        **_DRIFT_SOURCES, **_HOST_SOURCES,
    }
    return HardwareConfig(
        name="glass-pcm-200mm",
        description=("Glass-substrate photonic PCM panel, 200 mm x 200 mm, 6.5e8 cells, "
                     "1024x1024 tiles; bottom-up device numbers, vendor claim in `claim`"),
        array=ArrayConfig(
            tile_rows=1024,            # [D] note §8
            tile_cols=1024,            # [D] note §8
            tiles_per_chip=309,        # [D] 6.5e8 / (1024*1024*2)
            cells_per_chip=650_000_000,  # [V] vendor claim, note §3
            cells_per_weight=2,        # [D] differential pair
            chip_area_mm2=40_000.0,    # [V] 200 mm x 200 mm, note §3
            tiles_in_parallel=309,     # [D] all tiles per cycle (claim arithmetic, note §4)
        ),
        pcm=PCMConfig(
            levels=32,                 # [P] 16-32 levels, note §2/§8
            program_noise=0.5 / 31,    # [D] 1/2 LSB, note §7
            read_noise_shot=2.0 ** -8,     # [D] shot limit for 8 b, note §6
            read_noise_thermal=2.0 ** -8,  # [D] ~1/2 LSB of the 8-bit ADC
            drift_nu=0.0,              # [P] optical read ~drift-free (Rios 2019), note §2
            drift_nu_std=0.0,          # [P] note §2
            drift_t0_s=20.0,           # [P] aihwkit t0, note §2
            drift_compensation=False,  # [D]
            write_energy_j=100e-12,    # [D] note §8
            write_time_s=1e-6,         # [D] note §8
            endurance_cycles=1e6,      # [D] note §8
            parallel_writers=1024,     # [D] assumption
        ),
        converters=ConverterConfig(
            dac_bits=8,                # [D] note §8
            dac_energy_j=1.0e-12,      # [P/D] note §8
            modulator_energy_j=0.05e-12,  # [pre] TFLN, note §2/§8
            adc_bits=8,                # [D] note §8
            adc_energy_j=1.0e-12,      # [P] Murmann survey floor, note §2/§8
            pd_energy_j=0.1e-12,       # [D] note §8
            tia_energy_j=0.3e-12,      # [D] note §8
            adc_full_scale="auto",     # [D]
            adc_calibration_sigma=4.0,  # [D] design choice (sweep 3-12 RMS)
        ),
        optics=OpticsConfig(
            laser_model="shot",        # [D] note §8
            wall_plug_efficiency=0.3,  # [D] note §8
            insertion_loss_db=6.0,     # [D] note §8
            waveguide_loss_db_per_cm=0.1,  # [P] glass IOX, note §2/§8
            responsivity_a_per_w=1.0,  # [D] assumption
            receiver_sensitivity_dbm=-25.0,  # [S] LT rule, note §2
            wdm_channels=1,            # [D] note §8
            clock_hz=2e9,              # [D] from the claim, note §4/§8
            wavelength_m=1550e-9,      # [D] assumption
        ),
        formats=FormatConfig(),        # [D] exact digital formats
        host=HostConfig(**_HOST),      # see _HOST
        dynamic=DynamicConfig("electronic"),  # [D] attention products on the host
        claim=ClaimConfig(             # [V] vendor claims, note §3
            tops_per_watt=1000.0, pops=2600.0,
            source="[V] 光本位 glass-substrate PCM announcement via the seed article (2026); "
                   "claim, not a measurement"),
        sources=src,
    )


def _silicon() -> HardwareConfig:
    src = {
        "array.tile_rows": f"[V] 128x128 Si+PCM matrix, 光本位 press 2025 ({NOTE} §3, §8)",
        "array.tile_cols": f"[V] 128x128 ({NOTE} §3, §8)",
        "array.tiles_per_chip": f"[D] 1 tile per chip ({NOTE} §8)",
        "array.cells_per_chip": "[D] 128*128 weights x 2 cells",
        "array.cells_per_weight": "[D] differential pair for signed weights",
        "array.chip_area_mm2": "[D] assumption: 100 mm^2 die; not in the note",
        "array.tiles_in_parallel": "[D] the one tile",
        "pcm.levels": f"[P] GST or Sb2Se3, 32 levels ({NOTE} §8; Li, Optica 2019: 34 levels)",
        "pcm.program_noise": f"[D] sigma_prog ~ 1/2 LSB of 32 levels ({NOTE} §7)",
        "pcm.read_noise_shot": f"[D] ENOB 6 effective readout: c = 2^-6 ({NOTE} §8, §6)",
        "pcm.read_noise_thermal": f"[D] floor 2^-6 of FS so that the 8-bit ADC gives ENOB ~6 ({NOTE} §8)",
        "pcm.write_energy_j": f"[D] 100 pJ ({NOTE} §8)",
        "pcm.write_time_s": f"[D] 1 us ({NOTE} §8)",
        "pcm.endurance_cycles": f"[P] 1e4 ({NOTE} §8; GST >2.8e3, Sb2Se3/graphene 3e4 §2)",
        "pcm.parallel_writers": "[D] assumption: one driver per tile column (128); not in the note",
        "converters.dac_bits": f"[D] 8 b ({NOTE} §8)",
        "converters.dac_energy_j": f"[D] 1.0 pJ ({NOTE} §8)",
        "converters.modulator_energy_j": f"[P/S] 0.1 pJ ring/TFLN ({NOTE} §8; 0.45 pJ Si MZM)",
        "converters.adc_bits": f"[D] 8 b, effective ENOB 6 ({NOTE} §8)",
        "converters.adc_energy_j": f"[P] 1.5 pJ, 8 b 10 GS/s 14.8 mW (SimPhony adc.yml) ({NOTE} §2, §8)",
        "converters.pd_energy_j": f"[S] 1.1 mW at 5 GHz = 0.22 pJ (LT/SimPhony) ({NOTE} §2)",
        "converters.tia_energy_j": f"[S] 3 mW at 5 GHz = 0.6 pJ (LT/SimPhony) ({NOTE} §2)",
        "converters.adc_full_scale": "[D] calibrated per tile from the first batch",
        "converters.adc_calibration_sigma": CAL_SRC,
        "optics.laser_model": f"[S] LT sizing rule ({NOTE} §2, §8)",
        "optics.wall_plug_efficiency": f"[S] 0.2, LT/SimPhony default ({NOTE} §2)",
        "optics.insertion_loss_db": f"[D] 10 dB total ({NOTE} §8)",
        "optics.waveguide_loss_db_per_cm": f"[P] SOI 1-4 dB/cm -> 2 ({NOTE} §2, §8)",
        "optics.responsivity_a_per_w": "[D] assumption: ~1 A/W Ge photodiode; not in the note",
        "optics.receiver_sensitivity_dbm": f"[S] -25 dBm LT rule ({NOTE} §2)",
        "optics.wdm_channels": f"[D] 1 (knob up to 8) ({NOTE} §8)",
        "optics.clock_hz": f"[S] 5 GHz (LT) ({NOTE} §8)",
        "optics.wavelength_m": "[D] assumption: 1550 nm",
        "formats": "[D] exact digital formats; precision set by the converters and PCM levels",
        **_DRIFT_SOURCES, **_HOST_SOURCES,
    }
    return HardwareConfig(
        name="silicon-photonic-128",
        description="Today's silicon photonics + PCM: one 128x128 array per chip, 5 GHz",
        array=ArrayConfig(
            tile_rows=128,             # [V] 128x128, note §3/§8
            tile_cols=128,             # [V]
            tiles_per_chip=1,          # [D] note §8
            cells_per_chip=128 * 128 * 2,  # [D] differential pairs
            cells_per_weight=2,        # [D]
            chip_area_mm2=100.0,       # [D] assumption
            tiles_in_parallel=1,       # [D]
        ),
        pcm=PCMConfig(
            levels=32,                 # [P] note §8
            program_noise=0.5 / 31,    # [D] 1/2 LSB, note §7
            read_noise_shot=2.0 ** -6,     # [D] ENOB 6, note §8
            read_noise_thermal=2.0 ** -6,  # [D] ENOB 6, note §8
            drift_nu=0.0,              # [P] optical read, note §2
            drift_nu_std=0.0,          # [P]
            drift_t0_s=20.0,           # [P] aihwkit t0
            drift_compensation=False,  # [D]
            write_energy_j=100e-12,    # [D] note §8
            write_time_s=1e-6,         # [D] note §8
            endurance_cycles=1e4,      # [P] note §8
            parallel_writers=128,      # [D] assumption
        ),
        converters=ConverterConfig(
            dac_bits=8,                # [D] note §8
            dac_energy_j=1.0e-12,      # [D] note §8
            modulator_energy_j=0.1e-12,  # [P/S] note §8
            adc_bits=8,                # [D] note §8
            adc_energy_j=1.5e-12,      # [P] SimPhony adc.yml, note §2
            pd_energy_j=0.22e-12,      # [S] note §2
            tia_energy_j=0.6e-12,      # [S] note §2
            adc_full_scale="auto",     # [D]
            adc_calibration_sigma=4.0,  # [D] design choice (sweep 3-12 RMS)
        ),
        optics=OpticsConfig(
            laser_model="lt_rule",     # [S] note §8
            wall_plug_efficiency=0.2,  # [S] note §2
            insertion_loss_db=10.0,    # [D] note §8
            waveguide_loss_db_per_cm=2.0,  # [P] SOI, note §2
            responsivity_a_per_w=1.0,  # [D] assumption
            receiver_sensitivity_dbm=-25.0,  # [S] note §2
            wdm_channels=1,            # [D] note §8
            clock_hz=5e9,              # [S] note §8
            wavelength_m=1550e-9,      # [D] assumption
        ),
        formats=FormatConfig(),        # [D]
        host=HostConfig(**_HOST),
        dynamic=DynamicConfig("electronic"),
        claim=None,
        sources=src,
    )


def _feldmann() -> HardwareConfig:
    src = {
        "array.tile_rows": f"[P/D] 9 inputs (Feldmann, Nature 589, 52, 2021) ({NOTE} §3, §8)",
        "array.tile_cols": f"[P/D] 4 outputs ({NOTE} §3, §8)",
        "array.tiles_per_chip": "[D] one 9x4 tile",
        "array.cells_per_chip": f"[P/D] 16x16 physical crossbar = 256 cells ({NOTE} §8)",
        "array.cells_per_weight": "[D] differential pair for signed weights",
        "array.chip_area_mm2": "[D] assumption: 10 mm^2; not in the note",
        "array.tiles_in_parallel": "[D] the one tile",
        "pcm.levels": f"[P] GST, 32 levels ({NOTE} §8; 34 levels Li, Optica 2019)",
        "pcm.program_noise": f"[D] sigma_prog ~ 1/2 LSB ({NOTE} §7)",
        "pcm.read_noise_shot": f"[D] 5-bit readout: c = 2^-5 ({NOTE} §8, §6)",
        "pcm.read_noise_thermal": f"[D] floor 2^-5 of FS, matches the 5-bit output ({NOTE} §8)",
        "pcm.write_energy_j": f"[P] GST optical write 13.4 pJ (Rios, Nat. Photon. 2015) ({NOTE} §2, §8)",
        "pcm.write_time_s": f"[P] ~1 ns optical pulses (Rios 2015) ({NOTE} §2, §8)",
        "pcm.endurance_cycles": f"[P] 1e3 ({NOTE} §8; GST >2.8e3 §2)",
        "pcm.parallel_writers": "[D] assumption: one optical write channel; not in the note",
        "converters.dac_bits": f"[D] 8 b ({NOTE} §8)",
        "converters.dac_energy_j": f"[P] 3.6 pJ, 8 b 14 GS/s 50 mW (SimPhony dac.yml) ({NOTE} §2, §8)",
        "converters.modulator_energy_j": f"[S] 0.5 pJ, Si MZM ~450 fJ/bit ({NOTE} §2, §8)",
        "converters.adc_bits": f"[D] 5 b ({NOTE} §8)",
        "converters.adc_energy_j": f"[P] 4 pJ, ADC survey median ({NOTE} §2, §8)",
        "converters.pd_energy_j": f"[S] 0.22 pJ ({NOTE} §2, §8)",
        "converters.tia_energy_j": f"[S] 0.6 pJ ({NOTE} §2, §8)",
        "converters.adc_full_scale": "[D] calibrated per tile from the first batch",
        "converters.adc_calibration_sigma": CAL_SRC,
        "optics.laser_model": f"[S] LT rule ({NOTE} §8)",
        "optics.wall_plug_efficiency": f"[D] comb ~3% x 0.2 = 0.006 ({NOTE} §8)",
        "optics.insertion_loss_db": f"[D] 10 dB ({NOTE} §8)",
        "optics.waveguide_loss_db_per_cm": f"[P] SiN 0.1 dB/cm ({NOTE} §2, §8)",
        "optics.responsivity_a_per_w": "[D] assumption: ~1 A/W; not in the note",
        "optics.receiver_sensitivity_dbm": f"[S] -25 dBm LT rule ({NOTE} §2)",
        "optics.wdm_channels": f"[P] 4-wavelength comb (Feldmann 2021) ({NOTE} §3, §8)",
        "optics.clock_hz": f"[P] 14 GHz (Feldmann 2021) ({NOTE} §3, §8)",
        "optics.wavelength_m": "[D] assumption: 1550 nm",
        "formats": "[D] exact digital formats",
        **_DRIFT_SOURCES, **_HOST_SOURCES,
    }
    return HardwareConfig(
        name="pcm-tensor-core-2021",
        description="Integrated PCM photonic tensor core (Feldmann et al., Nature 2021): 9x4, 4 lambda, 14 GHz",
        array=ArrayConfig(
            tile_rows=9,               # [P/D] note §8
            tile_cols=4,               # [P/D] note §8
            tiles_per_chip=1,          # [D]
            cells_per_chip=256,        # [P/D] 16x16 physical, note §8
            cells_per_weight=2,        # [D]
            chip_area_mm2=10.0,        # [D] assumption
            tiles_in_parallel=1,       # [D]
        ),
        pcm=PCMConfig(
            levels=32,                 # [P] note §8
            program_noise=0.5 / 31,    # [D] note §7
            read_noise_shot=2.0 ** -5,     # [D] 5-bit readout
            read_noise_thermal=2.0 ** -5,  # [D]
            drift_nu=0.0,              # [P] optical read, note §2
            drift_nu_std=0.0,          # [P]
            drift_t0_s=20.0,           # [P] aihwkit t0
            drift_compensation=False,  # [D]
            write_energy_j=13.4e-12,   # [P] Rios 2015, note §2/§8
            write_time_s=1e-9,         # [P] note §2/§8
            endurance_cycles=1e3,      # [P] note §8
            parallel_writers=1,        # [D] assumption
        ),
        converters=ConverterConfig(
            dac_bits=8,                # [D] note §8
            dac_energy_j=3.6e-12,      # [P] SimPhony dac.yml
            modulator_energy_j=0.5e-12,  # [S] note §8
            adc_bits=5,                # [D] note §8
            adc_energy_j=4e-12,        # [P] survey median, note §8
            pd_energy_j=0.22e-12,      # [S]
            tia_energy_j=0.6e-12,      # [S]
            adc_full_scale="auto",     # [D]
            adc_calibration_sigma=4.0,  # [D] design choice (sweep 3-12 RMS)
        ),
        optics=OpticsConfig(
            laser_model="lt_rule",     # [S]
            wall_plug_efficiency=0.006,  # [D] note §8
            insertion_loss_db=10.0,    # [D] note §8
            waveguide_loss_db_per_cm=0.1,  # [P] SiN
            responsivity_a_per_w=1.0,  # [D] assumption
            receiver_sensitivity_dbm=-25.0,  # [S]
            wdm_channels=4,            # [P] Feldmann 2021
            clock_hz=14e9,             # [P] Feldmann 2021
            wavelength_m=1550e-9,      # [D] assumption
        ),
        formats=FormatConfig(),
        host=HostConfig(**_HOST),
        dynamic=DynamicConfig("electronic"),
        claim=None,
        sources=src,
    )


def _ideal() -> HardwareConfig:
    """Exact arithmetic for testing: no formats, noise, drift or converter rounding.

    Geometry and energies are those of glass-pcm-200mm (so a meter still has numbers)."""
    g = _glass()
    src = dict(g.sources)
    src.update({
        "pcm.quantize_levels": "[D] test preset: conductances are continuous",
        "pcm.program_noise": "[D] test preset: 0",
        "pcm.read_noise_shot": "[D] test preset: 0",
        "pcm.read_noise_thermal": "[D] test preset: 0",
        "converters.dac_rounding": "[D] test preset: off",
        "converters.adc_rounding": "[D] test preset: off",
        "*": "[D] all other numbers as glass-pcm-200mm",
    })
    return g.replace(
        name="ideal",
        description="Exact float32 arithmetic (testing); geometry and energies of glass-pcm-200mm",
        pcm__quantize_levels=False, pcm__program_noise=0.0, pcm__read_noise_shot=0.0,
        pcm__read_noise_thermal=0.0, pcm__drift_nu=0.0, pcm__drift_nu_std=0.0,
        converters__dac_rounding=False, converters__adc_rounding=False,
        claim=None, sources=src,
    )


_PRESETS: Dict[str, Callable[[], HardwareConfig]] = {
    "ideal": _ideal,
    "glass-pcm-200mm": _glass,
    "silicon-photonic-128": _silicon,
    "pcm-tensor-core-2021": _feldmann,
}


def register_preset(name: str, factory: Callable[[], HardwareConfig]) -> None:
    """Add a preset (a zero-argument factory returning a HardwareConfig)."""
    _PRESETS[name] = factory


def presets() -> List[str]:
    """Names of the known presets."""
    return list(_PRESETS)


def preset(name: str, **overrides) -> HardwareConfig:
    """Build preset ``name`` with ``group__field=value`` overrides."""
    if isinstance(name, HardwareConfig):
        return name.replace(**overrides) if overrides else name
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(_PRESETS)}")
    cfg = _PRESETS[name]()
    return cfg.replace(**overrides) if overrides else cfg
