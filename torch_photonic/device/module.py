"""``torch.photonic``: the device module of the emulated photonic accelerator.

It mirrors the parts of ``torch.cuda`` that PyTorch and users call: availability, the current
device, RNG state, memory statistics, plus what only this device has: its current hardware
configuration (``set_config``), the electronic-fallback policy and its per-op counters.
"""
from __future__ import annotations

import atexit
import contextlib
import math
import threading
from typing import Any, Dict, Iterator, Optional, Union

import torch

from .. import _C
from ..hardware.resolve import resolve
from ..optics.store import store
from .matmul import handler_for

_config_lock = threading.RLock()


def _drop_handler_at_exit() -> None:
    # The handler holds a Python callable; release it while the interpreter is still alive.
    _C._set_matmul_handler(None)


atexit.register(_drop_handler_at_exit)
_current_config: Any = "exact"  # see set_config; "exact" = float product on the host


# ---- device management -------------------------------------------------------------------
def is_available() -> bool:
    return True


def is_initialized() -> bool:
    return True


def _lazy_init() -> None:
    pass


def _is_in_bad_fork() -> bool:
    return False


def device_count() -> int:
    return 1


def current_device() -> int:
    return 0


def _check_index(device: Union[int, str, torch.device, None]) -> None:
    if device is None:
        return
    if isinstance(device, str):
        device = torch.device(device)
    index = device.index if isinstance(device, torch.device) else int(device)
    if isinstance(device, torch.device) and device.type != "photonic":
        raise ValueError(f"device must be a photonic device, got {device}")
    if index not in (None, 0, -1):
        raise ValueError(f"photonic device index {index} is out of range: there is 1 photonic device (index 0)")


def set_device(device: Union[int, str, torch.device]) -> None:
    _check_index(device)


def synchronize(device: Union[int, str, torch.device, None] = None) -> None:
    """Work is synchronous on the emulator: nothing to wait for."""
    _check_index(device)


class device:  # noqa: N801  (mirrors torch.cuda.device)
    """Context manager selecting the photonic device (there is only index 0)."""

    def __init__(self, device: Union[int, str, torch.device, None]):
        _check_index(device)

    def __enter__(self) -> "device":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def get_amp_supported_dtype():
    return [torch.float16, torch.bfloat16]


def get_device_name(device: Union[int, str, torch.device, None] = None) -> str:
    _check_index(device)
    return "photonic PCM accelerator (emulated)"


# ---- random numbers ------------------------------------------------------------------------
def manual_seed(seed: int) -> None:
    _C._manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)


def manual_seed_all(seed: int) -> None:
    manual_seed(seed)


def seed() -> None:
    _C._seed()


def seed_all() -> None:
    seed()


def initial_seed() -> int:
    return int(_C._initial_seed())


def get_rng_state(device: Union[int, str, torch.device] = "photonic") -> torch.Tensor:
    _check_index(device)
    return _C._get_rng_state()


def set_rng_state(new_state: torch.Tensor, device: Union[int, str, torch.device] = "photonic") -> None:
    _check_index(device)
    _C._set_rng_state(new_state)


def get_rng_state_all():
    return [get_rng_state()]


def set_rng_state_all(new_states) -> None:
    set_rng_state(new_states[0])


# ---- memory --------------------------------------------------------------------------------
def memory_allocated(device: Union[int, str, torch.device, None] = None) -> int:
    """Bytes of device memory held by photonic tensors now."""
    _check_index(device)
    return int(_C._memory_allocated())


def max_memory_allocated(device: Union[int, str, torch.device, None] = None) -> int:
    _check_index(device)
    return int(_C._max_memory_allocated())


def reset_peak_memory_stats(device: Union[int, str, torch.device, None] = None) -> None:
    _check_index(device)
    _C._reset_peak_memory_stats()


def set_memory_limit(nbytes: Optional[int]) -> None:
    """Device memory capacity in bytes; allocations beyond it raise torch.OutOfMemoryError.

    ``None`` or 0 removes the limit.
    """
    if nbytes is None:
        nbytes = 0
    if not isinstance(nbytes, int) or nbytes < 0:
        raise ValueError(f"nbytes must be a non-negative int or None, got {nbytes!r}")
    _C._set_memory_limit(nbytes)


def memory_limit() -> Optional[int]:
    n = int(_C._memory_limit())
    return n or None


def empty_cache() -> None:
    """Memory is returned to the host when tensors die; there is no cache to empty."""


# ---- the electronic host fallback ------------------------------------------------------
def set_fallback_policy(policy: str) -> None:
    """What an op without a photonic kernel does: 'allow' (run on the electronic host),
    'warn' (also warn once per op) or 'error' (raise)."""
    if policy not in ("allow", "warn", "error"):
        raise ValueError(f"policy must be 'allow', 'warn' or 'error', got {policy!r}")
    _C._set_fallback_policy(policy)


def fallback_policy() -> str:
    return _C._fallback_policy()


@contextlib.contextmanager
def count_host_ops() -> Iterator[Dict[str, Dict[str, int]]]:
    """Counts the ops that run on the electronic host inside the block.

    Yields a dict filled on exit: op name -> {calls, bytes_in, bytes_out, elements_out}.
    """
    result: Dict[str, Dict[str, int]] = {}
    was = _C._host_op_counting()
    before = _C._take_host_op_stats(False)
    _C._set_host_op_counting(True)
    try:
        yield result
    finally:
        _C._set_host_op_counting(was)
        after = _C._take_host_op_stats(False)
        for name, stats in after.items():
            prev = before.get(name, {})
            delta = {k: v - prev.get(k, 0) for k, v in stats.items()}
            if delta["calls"]:
                result[name] = delta


# ---- ageing --------------------------------------------------------------------------------
def age(seconds: float) -> None:
    """Ages every programmed weight to ``seconds`` after programming (drift and accumulated read
    noise), the clock ``tp.age`` sets for ``convert()``ed models too."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"age: seconds must be a finite number >= 0, got {seconds!r}")
    store.set_age(float(seconds))


# ---- hardware configuration ----------------------------------------------------------------
def get_config() -> Any:
    """The configuration the device's matrix products run with ("exact" or a HardwareConfig)."""
    return _current_config


def _resolve(config: Any) -> Any:
    if isinstance(config, str) and config == "exact":
        return "exact"
    return resolve(config)


class _ConfigContext:
    def __init__(self, previous: Any):
        self._previous = previous

    def __enter__(self) -> Any:
        return _current_config

    def __exit__(self, *exc: Any) -> None:
        _install(self._previous)


def _install(config: Any) -> None:
    global _current_config
    with _config_lock:
        _current_config = config
        if config == "exact":
            _C._set_matmul_handler(None)
        else:
            _C._set_matmul_handler(handler_for(config))


def set_config(config: Any = "exact") -> _ConfigContext:
    """Sets the hardware configuration of the device's matrix products.

    ``"exact"`` computes float products on the host (for testing); any spec that
    ``tp.hardware.resolve`` takes (a preset name, a :class:`torch_photonic.HardwareConfig`, a
    ``.toml``/``.json`` file) runs them through the optical kernel. Usable as a
    plain call or as a context manager that restores the previous configuration.
    """
    resolved = _resolve(config)
    previous = _current_config
    _install(resolved)
    return _ConfigContext(previous)
