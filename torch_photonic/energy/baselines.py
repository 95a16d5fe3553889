"""GPU and accelerator baselines that the meter compares photonic work against.

Data: ``torch_photonic/energy/data/gpu_baselines.json`` (each entry names its source). Two kinds, never mixed:

* ``measured``: H100 SXM numbers measured by this project (NVML energy over GEMM and
  decode-shaped GEMV loops; docs/sources.md [h100-gemm]).
* ``datasheet``: published peak throughput and board power (vendor [V] or third-party
  estimates [E]). TFLOP/J = peak TFLOPS /
  watts, an upper bound no real workload reaches (measured H100 decode sits ~300x below it).
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any, Dict, List, Optional

__all__ = ["load", "known", "get", "measured_cases", "datasheet_peaks", "regime_for_rows"]

_PATH = os.path.join(os.path.dirname(__file__), "data", "gpu_baselines.json")


@lru_cache(maxsize=1)
def load() -> Dict[str, Any]:
    with open(_PATH) as fh:
        return json.load(fh)


def known() -> List[str]:
    return sorted(load()["gpus"])


def get(name: str) -> Dict[str, Any]:
    """The baseline entry for ``name`` (case-insensitive); ValueError listing the known."""
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    gpus = load()["gpus"]
    if key not in gpus:
        raise ValueError(f"unknown GPU baseline {name!r}; known: {', '.join(known())}")
    return gpus[key]


def measured_cases(name: str) -> List[Dict[str, Any]]:
    e = get(name).get("measured")
    return list(e["cases"]) if e else []


def datasheet_peaks(name: str) -> List[Dict[str, Any]]:
    """Datasheet peaks with ``tflop_per_joule`` (None where the power is not published)."""
    d = get(name).get("datasheet")
    if not d:
        return []
    out = []
    for p in d["peaks"]:
        w = d.get("watts")
        out.append(dict(p, watts=w, source=d["source"], kind="datasheet",
                        tflop_per_joule=(p["tflops"] / w) if w else None))
    return out


def regime_for_rows(rows_per_product: float) -> str:
    """Which measured case matches work whose products have this many rows on average:
    ``decode_b1`` (<= 4 rows), ``decode_b64`` (<= 256) or ``gemm``."""
    if rows_per_product <= 4:
        return "decode_b1"
    if rows_per_product <= 256:
        return "decode_b64"
    return "gemm"


def best_measured(name: str, regime: str, dtype: str = "bf16") -> Optional[Dict[str, Any]]:
    """The measured case of that regime with the highest TFLOP/J (favouring the GPU)."""
    cases = [c for c in measured_cases(name) if c["regime"] == regime]
    same = [c for c in cases if c["dtype"] == dtype] or cases
    return max(same, key=lambda c: c["tflop_per_joule"]) if same else None
