"""Reading hardware configs from files: ``.toml`` or ``.json`` holding the field tree
(``[array]``, ``[pcm]``, ... tables), optionally ``base = "<preset>"`` plus only the fields it
changes. Every error names the file."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Union

__all__ = ["read_config_file", "merge", "CONFIG_SUFFIXES"]

CONFIG_SUFFIXES = (".toml", ".json")


def read_config_file(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """The table held by a config file, as a dict (``ValueError`` naming the file if it is not
    one)."""
    path = os.fspath(path)
    if not path.endswith(CONFIG_SUFFIXES):
        raise ValueError(f"{path}: unknown config file type (use .toml or .json)")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot read the config file ({e.strerror or e})") from None
    try:
        if path.endswith(".toml"):
            import tomllib
            data = tomllib.loads(raw.decode())
        else:
            data = json.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as e:  # TOMLDecodeError and JSONDecodeError
        raise ValueError(f"{path}: not a valid {path.rsplit('.', 1)[-1].upper()} file: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a table of fields, got a "
                         f"{type(data).__name__}")
    return data


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> Dict[str, Any]:
    """``base`` with ``over``'s fields on top, group by group (sources are merged per key)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v) if k != "sources" else {**dict(out[k]), **v}
        else:
            out[k] = v
    return out
