"""What every photonic layer shares: its hardware config, its name, and the faithfulness check.

Programmed weights are not held by the layer: they live in the one store
(:mod:`torch_photonic.optics.store`), keyed by the Parameter, so the device path and these layers
agree and tied weights are programmed once.

Faithfulness check: the first time a layer runs, it compares its output with the float32 product
of the original weights; if the relative error ``||y - y_ref|| / ||y_ref||`` exceeds
``config.warn_rel_error`` it warns once, naming the module. The measured value is kept in
``layer.calibration_error``.

Releasing weights (``tp.program(model, release_weights=True)``): once programmed, a layer can let
the digital copies of its optical weights go; the cells in the store are then the only copy (as
on the chip), each weight a ``meta`` placeholder of the same layout that names them. Such a layer
runs inference only and is never programmed again.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Collection, Optional, Tuple

import torch
from torch import nn

from ..hardware.config import HardwareConfig
from ..hardware.resolve import resolve
from ..optics.backend import on_host
from ..optics.store import store

__all__ = ["PhotonicModule", "RANGE_ATTRS"]

#: the attributes learned ranges live in (a linear layer; fused experts per projection)
RANGE_ATTRS = ("input_range", "adc_full_scale", "gate_up_input_range", "gate_up_adc_full_scale",
               "down_input_range", "down_adc_full_scale")


def relative_error(y: torch.Tensor, ref: torch.Tensor) -> float:
    den = ref.float().norm().item()
    num = (y.float() - ref.float()).norm().item()
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


class PhotonicModule(nn.Module):
    """Base of :class:`PhotonicLinear` and :class:`PhotonicExperts`."""

    config: HardwareConfig
    #: the attributes holding the weights this layer multiplies optically
    OPTICAL_WEIGHTS: Tuple[str, ...] = ()

    def _init_common(self, config: Any, name: str) -> None:
        self.config = resolve(config)
        self.photonic_name = name
        self.calibration_error: Optional[float] = None
        self._warned = False

    def check_reconfigure(self, config: HardwareConfig) -> None:
        """``ValueError`` if this layer cannot move onto ``config`` (see :meth:`reconfigure`)."""
        if config == self.config:
            return
        learned = [a for a in RANGE_ATTRS if isinstance(getattr(self, a, None), nn.Parameter)]
        if learned:
            raise ValueError(
                f"photonic layer '{self.photonic_name or type(self).__name__}' holds ranges "
                f"learned on preset '{self.config.name}' ({', '.join(learned)}); it cannot move "
                f"to '{config.name}': convert a fresh copy of the source model instead")

    def reconfigure(self, config: Any) -> bool:
        """Moves this layer onto ``config`` (any spec of ``resolve``); True if it changed.

        The store keys programmed cells by config, so the next forward (or ``tp.program``)
        programs the weights on the new config; the faithfulness check runs again and training
        noise tables are measured again. Learned ranges (``hwa.prepare_training(...,
        learn_ranges=True)``) were learned for the old config: a layer holding them refuses
        (``ValueError``); convert a fresh copy of the source model instead.
        """
        cfg = resolve(config)
        if cfg == self.config:
            return False
        self.check_reconfigure(cfg)
        self.config = cfg
        self.calibration_error = None
        self._warned = False
        opts = self.__dict__.get("_training_options")
        if opts is not None:
            opts.tables.clear()  # cell noise measured on the old config
        return True

    def program_cells(self) -> None:
        """Writes this layer's weights into the cells (if changed since the last write)."""
        raise NotImplementedError

    @property
    def released(self) -> bool:
        """True once the digital copies of this layer's optical weights were let go."""
        return any(getattr(self, a).is_meta for a in self.OPTICAL_WEIGHTS)

    def kernel_device(self) -> torch.device:
        """Where this layer's products run: its weights' device (the C++ kernels or the torch
        ones, see :func:`torch_photonic.optics.kernels.ops_for`); weights in host memory on
        another device (the ``photonic`` device), and released ones, run on the CPU."""
        p = getattr(self, self.OPTICAL_WEIGHTS[0])
        if p.is_meta or on_host(p.device):
            return torch.device("cpu")
        return p.device

    def kernel_view(self, param: torch.Tensor) -> torch.Tensor:
        """``param`` (detached) where the kernels read it: itself, a CPU copy of a weight in
        host memory on another device, or (released) its ``meta`` placeholder."""
        p = param.detach()
        if p.is_meta or p.device.type == "cpu" or not on_host(p.device):
            return p
        return p.to("cpu")

    def release_weights(self, keep: Collection[int] = ()) -> int:
        """Programs this layer's optical weights (if needed), then lets their digital copies
        go: each becomes a ``meta`` placeholder of the same layout, the store's cells the only
        copy (see the module docstring). Weights whose ``id`` is in ``keep`` (shared with other
        modules) stay. Returns how many weights were let go."""
        self.program_cells()
        self.push_ranges()
        n = 0
        for attr in self.OPTICAL_WEIGHTS:
            p = getattr(self, attr)
            if p.is_meta or id(p) in keep:
                continue
            held = p.untyped_storage().nbytes() // p.element_size()
            meta = torch.empty(held, dtype=p.dtype, device="meta").as_strided(
                p.shape, p.stride(), p.storage_offset())
            placeholder = nn.Parameter(meta, requires_grad=False)
            store.release(p, placeholder)
            setattr(self, attr, placeholder)
            del p  # the weight is freed before its cells' codes are checked
            store.check_released(placeholder)
            n += 1
        return n

    def _apply(self, fn, recurse=True):
        """``to()``, ``cuda()``, ``half()`` and the like: dtype changes apply to released
        placeholders too (they stay ``meta``); a device move leaves them, as the cells stay
        where they were programmed (the layer then computes there and returns its output on
        the input's device)."""
        held = {a: p for a, p in self._parameters.items()
                if a in self.OPTICAL_WEIGHTS and p is not None and p.is_meta}
        for a in held:
            self._parameters[a] = None
        try:
            return super()._apply(fn, recurse)
        finally:
            for a, p in held.items():
                try:
                    moved = fn(p)
                except NotImplementedError:  # meta tensors hold no data to move
                    moved = p
                if moved.is_meta and moved is not p:
                    p.data = moved
                self._parameters[a] = p

    def check_inference_only(self, *inputs: Optional[torch.Tensor]) -> None:
        """``RuntimeError`` if this layer let its weights go and this forward needs gradients
        (training mode or inputs that require them, with gradients enabled)."""
        if not self.released or not torch.is_grad_enabled():
            return
        if self.training or any(t is not None and t.requires_grad for t in inputs):
            raise RuntimeError(
                f"photonic layer '{self.photonic_name or type(self).__name__}' let its digital "
                f"weights go (tp.program(model, release_weights=True)): it runs inference only; "
                f"call it in model.eval() under torch.no_grad() or torch.inference_mode()")

    def training_matrices(self) -> list:
        """(what, expert, parameter, host [out, in] matrix) of every programmed matrix."""
        raise NotImplementedError

    def push_ranges(self) -> None:
        """Hands learned input ranges (if any) to the programmed weights' converters."""

    def make_range_parameters(self, name: str, inputs: bool, outputs: bool) -> list:
        """Learnable range Parameters (static input ranges if ``inputs``, ADC full scales if
        ``outputs``), initialised from the calibrated ranges."""
        raise NotImplementedError

    def _label(self, param: torch.Tensor, attr: str) -> None:
        if self.photonic_name:
            store.label(param, f"{self.photonic_name}.{attr}")

    @property
    def seconds(self) -> float:
        """Time since programming of this layer's weights (drift); see ``tp.set_time``."""
        return store.age_of(next(iter(self.parameters())))

    def _check_faithful(self, y: torch.Tensor, ref: torch.Tensor, what: str = "") -> None:
        err = relative_error(y, ref)
        self.calibration_error = err if self.calibration_error is None \
            else max(self.calibration_error, err)
        if err > self.config.warn_rel_error and not self._warned:
            self._warned = True
            warnings.warn(
                f"photonic layer '{self.photonic_name or type(self).__name__}{what}': output "
                f"relative error {err:.3f} exceeds {self.config.warn_rel_error} on preset "
                f"'{self.config.name}' (check formats, PCM levels, ADC bits / full scale)",
                RuntimeWarning, stacklevel=3)
