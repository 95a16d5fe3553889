"""The names every part of the package agrees on: element formats, scalings, scale rules and the
enumerated config choices. The C++ quantizer parses the same format and scaling names
(``torch_photonic._C._quant_names()``); a test checks that both lists stay equal."""
from __future__ import annotations

#: Element formats; "none" keeps float32 (no quantization).
QUANT_FORMATS = ("fp8_e4m3", "fp8_e5m2", "fp4_e2m1")
FORMATS = ("none",) + QUANT_FORMATS
SCALINGS = ("none", "tensor", "channel", "mx", "nvfp4", "block128", "block128_ue8m0")
SCALE_RULES = ("floor", "rceil")

INPUT_RANGES = ("dynamic", "static")
ADC_RANGES = ("fixed", "calibrated")
DRIFT_COMPENSATIONS = ("none", "global", "per_column")
MODES = ("bottom_up", "claim")
DYNAMIC_MODES = ("electronic", "optical")
LASER_MODES = ("gated", "cw")

#: The preset the device and every verb use when none is named.
DEFAULT_PRESET = "glass-pcm-200mm"
