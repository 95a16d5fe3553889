"""torch_photonic: a PyTorch device backend emulating a glass-substrate photonic PCM accelerator.

``import torch_photonic`` registers the ``photonic`` device (``torch.photonic``). The public API:

* quantization: :func:`quantize`, :func:`dequantize`, :func:`fake_quantize`, :func:`formats`,
  :func:`scalings`, :class:`QuantizedTensor`
* hardware: :class:`HardwareConfig`, :func:`preset`, :func:`presets`
* optics: :class:`PhotonicLinear`, :class:`PhotonicExperts`, :func:`convert`, :func:`set_time`
* energy: :func:`meter`, :func:`plan`
* models and accuracy: :func:`build_deepseek`, :func:`greedy_generate`, ``tp.accuracy``
* the device: :func:`set_config`, :func:`get_config` (also ``torch.photonic.set_config``)
"""
from __future__ import annotations

import torch  # noqa: F401  (the extension links against torch)

from . import _C  # noqa: F401  (registers the C++ ops and the device runtime)
from . import _backend

_backend.register()

from . import events  # noqa: E402
from .quant import QuantizedTensor, dequantize, fake_quantize, formats, quantize, scalings  # noqa: E402
from .config import HardwareConfig  # noqa: E402
from .presets import preset, presets  # noqa: E402
from .layers import PhotonicExperts, PhotonicLinear, set_time  # noqa: E402
from .convert import convert  # noqa: E402
from . import energy, baselines, report  # noqa: E402
from .meter import Meter, meter  # noqa: E402
from .plan import plan  # noqa: E402
from .device import get_config, set_config  # noqa: E402
from .device_matmul import label_parameters  # noqa: E402
from . import models, accuracy  # noqa: E402
from .models import build_deepseek, get_model_config, greedy_generate, tiny_deepseek_config  # noqa: E402

__version__ = "0.1.0"

# The default the device's matrix products run with: the glass-substrate PCM chip (README).
set_config("glass-pcm-200mm")
