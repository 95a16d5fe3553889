"""torch_photonic: a PyTorch device backend emulating a glass-substrate photonic PCM accelerator.

``import torch_photonic`` registers the ``photonic`` device (``torch.photonic``). The package is
laid out by concept: ``device`` (the ``torch.photonic`` module, its config, the matmul handler),
``hardware`` (config groups, presets, files, the resolver), ``optics`` (kernel wrappers, the one
store of programmed weights), ``nn`` (layers, ``convert``, lifecycle verbs), ``quant``,
``energy`` (events, energy model, meter, GPU baselines, reports, planner), ``models``, ``eval``
and ``cli``. The public API:

* quantization: :func:`quantize`, :func:`dequantize`, :func:`fake_quantize`, :func:`formats`,
  :func:`scalings`, :class:`QuantizedTensor`
* hardware: :class:`HardwareConfig`, :func:`preset`, :func:`presets`, :func:`resolve`,
  :func:`load`, ``DEFAULT_PRESET``
* optics: :class:`PhotonicLinear`, :class:`PhotonicExperts`, :func:`convert`, :func:`program`,
  :func:`set_time`, :func:`label_parameters`, :func:`keep_digital`
* energy: :func:`meter`, :func:`plan`
* models: :func:`build_deepseek`, :func:`greedy_generate`
* the device: :func:`set_config`, :func:`get_config` (also ``torch.photonic.set_config``)
"""
from __future__ import annotations

import torch  # noqa: F401  (the extension links against torch)

from . import _C  # noqa: F401  (registers the C++ ops and the device runtime)
from .device import registration as _registration

_registration.register()

from .quant import QuantizedTensor, dequantize, fake_quantize, formats, quantize, scalings  # noqa: E402
from .hardware import (DEFAULT_PRESET, HardwareConfig, link_budget, load, preset,  # noqa: E402
                       presets, resolve)
from .nn import (PhotonicExperts, PhotonicLinear, age, calibrate, clip_rates,  # noqa: E402
                 convert, keep_digital, label_parameters, load_programmed, program,
                 save_programmed, set_time)
from .nn.lifecycle import install_labelling_hook as _install_labelling_hook  # noqa: E402
from .energy import Meter, meter, plan  # noqa: E402
from .device import get_config, set_config  # noqa: E402
from .models import build_deepseek, get_model_config, greedy_generate, tiny_deepseek_config  # noqa: E402
from .eval.diagnose import diagnose  # noqa: E402
from .optics.kernels import kernel_backend  # noqa: E402
from .train import finetune  # noqa: E402
from . import device, energy, eval, hardware, models, nn, optics, quant  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = ["QuantizedTensor", "dequantize", "fake_quantize", "formats", "quantize", "scalings",
           "DEFAULT_PRESET", "HardwareConfig", "load", "preset", "presets", "resolve",
           "PhotonicExperts", "PhotonicLinear", "convert", "keep_digital", "label_parameters", "program",
           "set_time", "age", "calibrate", "clip_rates", "link_budget", "Meter", "meter", "plan", "get_config", "set_config", "build_deepseek",
           "get_model_config", "greedy_generate", "tiny_deepseek_config", "diagnose", "finetune",
           "save_programmed", "load_programmed", "kernel_backend"]

_install_labelling_hook()
# The default the device's matrix products run with: the glass-substrate PCM chip (README).
set_config(DEFAULT_PRESET)
