"""The non-idealities of a config, each one switchable on its own: the vocabulary of the error
budget (``tp.diagnose``) and of the accuracy ablations.

=============  =====================================================================
effect         what it is, and the fields that switch it off
=============  =====================================================================
``formats``    digital number formats of weights and activations (``formats.*`` to "none")
``dac``        DAC rounding of the inputs to ``dac_bits`` (``converters.dac_rounding``)
``levels``     conductances rounded onto ``pcm.levels`` levels (``pcm.quantize_levels``)
``programming``  programming noise (``pcm.program_noise_coeffs`` to 0)
``read_noise`` 1/f read noise accumulated since programming (``pcm.read_noise_q0`` to 0)
``drift``      conductance drift (``pcm.drift_nu_*`` to 0)
``shot``       photon shot noise at the detectors (``optics.shot_noise``)
``receiver``   TIA noise (``optics.tia_noise_a_per_rthz`` to 0)
``adc``        ADC clipping at full scale and rounding to ``adc_bits``
               (``converters.adc_rounding``)
=============  =====================================================================

Static input ranges clip whatever the effects: that is the mapping, not a non-ideality.
"""
from __future__ import annotations

from typing import Dict, Iterable, List

from .config import HardwareConfig

__all__ = ["EFFECTS", "OFF", "without", "only", "ideal_of", "active_effects"]

#: the fields that switch each effect off, and their "off" values
OFF: Dict[str, Dict[str, object]] = {
    "formats": {"formats__weight_format": "none", "formats__weight_scaling": "none",
                "formats__activation_format": "none", "formats__activation_scaling": "none"},
    "dac": {"converters__dac_rounding": False},
    "levels": {"pcm__quantize_levels": False},
    "programming": {"pcm__program_noise_coeffs": (0.0, 0.0, 0.0)},
    "read_noise": {"pcm__read_noise_q0": 0.0},
    "drift": {"pcm__drift_nu_coeffs": (0.0, 0.0), "pcm__drift_nu_range": (0.0, 0.0),
              "pcm__drift_nu_std_coeffs": (0.0, 0.0), "pcm__drift_nu_std_range": (0.0, 0.0)},
    "shot": {"optics__shot_noise": False},
    "receiver": {"optics__tia_noise_a_per_rthz": 0.0},
    "adc": {"converters__adc_rounding": False},
}

EFFECTS = tuple(OFF)


def _value(cfg: HardwareConfig, key: str):
    group, field = key.split("__", 1)
    return getattr(getattr(cfg, group), field)


def _check(effects: Iterable[str]) -> List[str]:
    effects = [effects] if isinstance(effects, str) else list(effects)
    bad = [e for e in effects if e not in OFF]
    if bad:
        raise ValueError(f"effects: unknown effect(s) {bad}; known: {list(EFFECTS)}")
    return effects


def active_effects(cfg: HardwareConfig) -> List[str]:
    """The effects that are on in ``cfg`` (some field differs from its "off" value)."""
    out = []
    for e, fields in OFF.items():
        if any(_value(cfg, k) != v for k, v in fields.items()):
            out.append(e)
    return out


def without(cfg: HardwareConfig, effects: Iterable[str]) -> HardwareConfig:
    """``cfg`` with ``effects`` switched off."""
    overrides: Dict[str, object] = {}
    for e in _check(effects):
        overrides.update(OFF[e])
    return cfg.replace(**overrides) if overrides else cfg


def ideal_of(cfg: HardwareConfig) -> HardwareConfig:
    """``cfg`` with every effect off (the same mapping, geometry and energies)."""
    return without(cfg, EFFECTS)


def only(cfg: HardwareConfig, effects: Iterable[str]) -> HardwareConfig:
    """``cfg`` with every effect off except ``effects`` (kept as ``cfg`` has them)."""
    keep = set(_check(effects))
    return without(cfg, [e for e in EFFECTS if e not in keep])
