"""Reading hardware configs from files: ``.toml`` or ``.json`` holding the field tree
(``[array]``, ``[pcm]``, ... tables), optionally ``base = "<preset>"`` plus only the fields it
changes. Every error names the file."""
from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, Mapping, Optional, Tuple, Union

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
    kind = path.rsplit(".", 1)[-1].upper()
    try:
        text = raw.decode()
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{path}: not a valid {kind} file: not UTF-8 text (line {line}, byte "
                         f"{e.start})") from None
    try:
        if path.endswith(".toml"):
            import tomllib
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as e:  # TOMLDecodeError and JSONDecodeError
        msg, where = _decode_position(e)
        raise ValueError(f"{path}: not a valid {kind} file: {msg}{where}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a table of fields, got a "
                         f"{type(data).__name__}")
    return data


def _decode_position(e: ValueError) -> Tuple[str, str]:
    """(the message without its position, ``" (line L, column C)"``) of a TOML or JSON decode
    error. JSONDecodeError and newer TOMLDecodeErrors carry ``lineno``/``colno``; older
    TOMLDecodeErrors only name them in the message (``"... (at line 3, column 13)"``)."""
    msg = getattr(e, "msg", None) or str(e)
    line: Optional[int] = getattr(e, "lineno", None)
    col: Optional[int] = getattr(e, "colno", None)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)", msg)
    if m:
        msg = msg[:m.start()] + msg[m.end():]
        if line is None:
            line, col = int(m.group(1)), int(m.group(2))
    if line is None:
        return msg, ""
    return msg, f" (line {line}" + (f", column {col}" if col is not None else "") + ")"


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> Dict[str, Any]:
    """``base`` with ``over``'s fields on top, group by group (sources are merged per key)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v) if k != "sources" else {**dict(out[k]), **v}
        else:
            out[k] = v
    return out
