"""The ``photonic`` device: its registration with PyTorch (``torch.photonic``), the current
hardware config of its matrix products, and the handler that runs them on the optics."""
from .module import get_config, set_config
from .registration import NAME, register

__all__ = ["get_config", "set_config", "NAME", "register"]
