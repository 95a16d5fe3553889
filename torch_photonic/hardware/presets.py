"""Named hardware presets, read from the TOML files in ``presets/`` beside this module.

One file per preset, ``<name>.toml``: the config groups as tables (``[array]``, ``[pcm]``,
``[converters]``, ``[optics]``, ``[formats]``, ``[host]``, ``[dynamic]``, ``[claim]``) and a
``[sources]`` table mapping each field path to a citation. A citation starts with a tag —
[P] peer-reviewed, [pre] preprint, [V] vendor claim, [S] simulator assumption, [D] derived
here, [M] measured by this project — and names its source by key, e.g. ``[najafi1992]``; the
keys and the derivations are listed in docs/sources.md.

A file may start from another preset with ``base = "<preset>"`` and list only what differs;
``unset = ["claim"]`` returns top-level fields of the base to their defaults.

``preset(name, **overrides)`` builds one (overrides as in :meth:`HardwareConfig.replace`);
``presets()`` lists the names; ``register_preset(name, factory)`` adds one built in Python.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable, Dict, List

from .config import HardwareConfig
from .files import merge, read_config_file

__all__ = ["preset", "presets", "register_preset", "PRESET_DIR"]

PRESET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")

# top-level fields that ``unset`` may return to their defaults
_UNSETTABLE = sorted(f.name for f in dataclasses.fields(HardwareConfig)
                     if f.default is not dataclasses.MISSING)
_LOADING: set = set()  # presets whose base is being built (a chain of bases must not loop)


@functools.lru_cache(maxsize=None)
def _table(name: str) -> Dict[str, Any]:
    """The field tree of ``presets/<name>.toml`` with its base merged in."""
    path = os.path.join(PRESET_DIR, f"{name}.toml")
    d = read_config_file(path)
    try:
        base, unset = d.pop("base", None), d.pop("unset", [])
        if base is not None:
            if base == name or base in _LOADING or base not in _PRESETS:
                raise ValueError(f"base must name a preset ({', '.join(_PRESETS)}) that does "
                                 f"not lead back to {name!r}, got {base!r}")
            _LOADING.add(name)
            try:
                d = merge(preset(base).to_dict(), d)
            finally:
                _LOADING.discard(name)
        if not isinstance(unset, list) or not set(unset) <= set(_UNSETTABLE):
            raise ValueError(f"unset must be a list of fields from {_UNSETTABLE}, got {unset!r}")
        for field in unset:
            d.pop(field, None)
        if d.setdefault("name", name) != name:
            raise ValueError(f"name must be {name!r} (the file name), got {d['name']!r}")
        HardwareConfig.from_dict(d)  # validate once, with the file named in the error
    except (ValueError, TypeError) as e:
        raise type(e)(f"{path}: {e}") from None
    return d


def _from_file(name: str) -> HardwareConfig:
    return HardwareConfig.from_dict(_table(name))


_PRESETS: Dict[str, Callable[[], HardwareConfig]] = {
    f[:-len(".toml")]: functools.partial(_from_file, f[:-len(".toml")])
    for f in sorted(os.listdir(PRESET_DIR)) if f.endswith(".toml")
}


def register_preset(name: str, factory: Callable[[], HardwareConfig]) -> None:
    """Add a preset (a zero-argument factory returning a HardwareConfig)."""
    _PRESETS[name] = factory


def presets() -> List[str]:
    """Names of the known presets."""
    return list(_PRESETS)


def preset(name: str, **overrides) -> HardwareConfig:
    """Build preset ``name`` with ``group__field=value`` overrides."""
    if isinstance(name, HardwareConfig):
        return name.replace(**overrides) if overrides else name
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(_PRESETS)}")
    cfg = _PRESETS[name]()
    return cfg.replace(**overrides) if overrides else cfg
