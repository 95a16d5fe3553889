"""torch_photonic: a PyTorch device backend emulating a glass-substrate photonic PCM accelerator."""
from __future__ import annotations

import torch  # noqa: F401  (the extension links against torch)

from . import _C  # noqa: F401  (registers the C++ ops and the device runtime)

__version__ = "0.1.0"
from .config import HardwareConfig  # noqa: E402,F401
from .presets import preset, presets  # noqa: E402,F401
from .layers import PhotonicExperts, PhotonicLinear, set_time  # noqa: E402,F401
from .convert import convert  # noqa: E402,F401
from .quant import QuantizedTensor, dequantize, fake_quantize, formats, quantize, scalings  # noqa: E402,F401
from . import energy, events, baselines, report  # noqa: E402,F401
from .meter import Meter, meter  # noqa: E402,F401
from .plan import plan  # noqa: E402,F401
from . import models, accuracy  # noqa: E402,F401
from .models import build_deepseek, get_model_config, greedy_generate, tiny_deepseek_config  # noqa: E402,F401
