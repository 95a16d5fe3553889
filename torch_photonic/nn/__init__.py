"""Photonic layers, ``convert()``, and the lifecycle verbs of programmed weights."""
from .base import PhotonicModule
from .convert import ConversionReport, convert
from .experts import PhotonicExperts
from .lifecycle import (age, calibrate, clear_programmed, clip_rates, keep_digital,
                        label_parameters, photonic_modules, program, reset_clip_rates, set_time)
from .linear import PhotonicLinear
from .hwa import begin_step, deploy, prepare_training, range_parameters
from .saving import load_programmed, save_programmed

__all__ = ["PhotonicModule", "PhotonicLinear", "PhotonicExperts", "ConversionReport", "convert",
           "program", "set_time", "age", "calibrate", "clip_rates", "reset_clip_rates",
           "keep_digital", "label_parameters", "photonic_modules", "clear_programmed",
           "prepare_training", "begin_step", "deploy", "range_parameters", "save_programmed",
           "load_programmed"]
