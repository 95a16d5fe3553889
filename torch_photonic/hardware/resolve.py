"""The one way a hardware config is named: :func:`resolve`.

A *spec* is a preset name, a :class:`HardwareConfig`, a ``.toml``/``.json`` file, or a mapping of
fields; ``group__field=value`` overrides go on top. Every verb of the package (``convert``,
``set_config``, ``meter``, ``plan``, the CLI) goes through here.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from .config import HardwareConfig
from .files import CONFIG_SUFFIXES, merge, read_config_file
from .names import DEFAULT_PRESET
from .presets import preset, presets

__all__ = ["resolve", "resolve_as", "load", "DEFAULT_PRESET"]


def load(path: "str | os.PathLike") -> HardwareConfig:
    """A config from a ``.toml`` or ``.json`` file (``base = "<preset>"`` allowed)."""
    return _from_mapping(read_config_file(path), where=os.fspath(path))


def _from_mapping(d: Mapping[str, Any], where: str) -> HardwareConfig:
    d = dict(d)
    try:
        if "base" in d:
            base = d.pop("base")
            if not isinstance(base, str) or base not in presets():
                raise ValueError(f"base must name a preset ({', '.join(presets())}), got {base!r}")
            d = merge(preset(base).to_dict(), d)
        return HardwareConfig.from_dict(d)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{where}: {e}") from None


def resolve(spec: Any = None, **overrides: Any) -> HardwareConfig:
    """The :class:`HardwareConfig` that ``spec`` names, with ``overrides`` applied.

    ``spec``: ``None`` (the default preset, ``glass-pcm-200mm``), a preset name, a path to a
    ``.toml``/``.json`` file, a :class:`HardwareConfig`, or a mapping of its fields.
    """
    return resolve_as("spec", spec, **overrides)


def resolve_as(argument: str, spec: Any = None, /, **overrides: Any) -> HardwareConfig:
    """:func:`resolve` for a caller whose own argument holds the spec: errors about the spec
    name ``argument`` (``"config: unknown preset 'x'; ..."``)."""
    if spec is None:
        cfg = preset(DEFAULT_PRESET)
    elif isinstance(spec, HardwareConfig):
        cfg = spec
    elif isinstance(spec, (str, os.PathLike)):
        name = os.fspath(spec)
        if isinstance(spec, str) and name in presets():
            cfg = preset(name)
        elif name.endswith(CONFIG_SUFFIXES) or os.path.exists(name):
            if not os.path.exists(name):
                raise ValueError(f"{argument}: config file {name!r} does not exist")
            cfg = load(name)
        else:
            raise ValueError(f"{argument}: unknown preset {name!r}; known presets: "
                             f"{', '.join(presets())} (or a .toml/.json config file)")
    elif isinstance(spec, Mapping):
        cfg = _from_mapping(spec, where=argument)
    else:
        raise TypeError(f"{argument} must be a preset name, a HardwareConfig, a .toml/.json path "
                        f"or a mapping of fields, got {type(spec).__name__}")
    return cfg.replace(**overrides) if overrides else cfg
