"""The hardware description: config groups, presets with their sources, files, and the one
resolver (:func:`resolve`) every verb uses."""
from .config import (ArrayConfig, ClaimConfig, ConverterConfig, DynamicConfig, FormatConfig,
                     HardwareConfig, HostConfig, MappingConfig, OpticsConfig, PCMConfig)
from .photon_budget import link_budget
from .names import DEFAULT_PRESET, FORMATS, SCALE_RULES, SCALINGS
from .presets import preset, presets, register_preset
from .resolve import load, resolve

__all__ = ["ArrayConfig", "ClaimConfig", "ConverterConfig", "DynamicConfig", "FormatConfig",
           "HardwareConfig", "HostConfig", "MappingConfig", "OpticsConfig", "PCMConfig",
           "link_budget", "DEFAULT_PRESET",
           "FORMATS", "SCALE_RULES", "SCALINGS", "preset", "presets", "register_preset", "load",
           "resolve"]
