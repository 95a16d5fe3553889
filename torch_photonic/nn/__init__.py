"""Photonic layers, ``convert()``, and the lifecycle verbs of programmed weights."""
from .base import PhotonicModule
from .convert import ConversionReport, convert
from .experts import PhotonicExperts
from .lifecycle import (clear_programmed, keep_digital, label_parameters, photonic_modules,
                        program, set_time)
from .linear import PhotonicLinear

__all__ = ["PhotonicModule", "PhotonicLinear", "PhotonicExperts", "ConversionReport", "convert",
           "program", "set_time", "keep_digital", "label_parameters", "photonic_modules", "clear_programmed"]
