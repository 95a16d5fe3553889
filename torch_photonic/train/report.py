"""What a fine-tuning run leaves in its output folder: ``finetune.json`` (the result, learning
curve included) and ``finetune.png`` (the loss curve, held-out quality before and after in the
legend)."""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Optional

__all__ = ["write_outputs", "format_metrics"]


def _clean(o: Any) -> Any:
    """JSON-safe: non-finite floats become None, tuples lists, other objects their text."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if o is None or isinstance(o, (bool, int, str)):
        return o
    if hasattr(o, "item") and getattr(o, "numel", lambda: 0)() == 1:
        return _clean(o.item())
    return str(o)


def format_metrics(metrics: Optional[Dict[str, Any]]) -> str:
    """``name=value`` for the numeric entries of a metrics dict (``-`` when there is none)."""
    if not metrics:
        return "-"
    parts = [f"{k}={v:.4g}" for k, v in metrics.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(parts) or "-"


def write_outputs(result: Dict[str, Any], output_dir: "str | os.PathLike") -> Dict[str, str]:
    """Writes ``finetune.json`` and ``finetune.png`` under ``output_dir`` (made if needed);
    returns their paths."""
    folder = os.fspath(output_dir)
    os.makedirs(folder, exist_ok=True)
    paths = dict(json=os.path.join(folder, "finetune.json"),
                 plot=os.path.join(folder, "finetune.png"))
    tmp = paths["json"] + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(_clean(result), fh, indent=1)
        fh.write("\n")
    os.replace(tmp, paths["json"])

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result.get("curve") or []
    fig, ax = plt.subplots(figsize=(7, 4.2))
    try:
        steps = [r["step"] for r in curve]
        losses = [r["loss"] for r in curve]
        ax.plot(steps, losses, lw=1.2, label="training loss")
        for label, key in (("full precision", "teacher"), ("before", "before"),
                           ("after", "after")):
            ax.plot([], [], " ", label=f"held-out {label}: {format_metrics(result.get(key))}")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        if losses and min(losses) > 0 and max(losses) / min(losses) > 20:
            ax.set_yscale("log")
        ax.set_title(f"hardware-aware fine-tuning on {result.get('preset')} "
                     f"({result.get('steps')} steps)", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(paths["plot"], dpi=120)
    finally:
        plt.close(fig)
    return paths
