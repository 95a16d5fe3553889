"""Accuracy over time: a model programmed once and read at growing ages (drift and accumulated
read noise), against its full-precision value.

    rows = accuracy_over_time("minilm", "glass-pcm-200mm", n=64)
    plot_accuracy_over_time(rows, "aging.png")

Each preset converts one copy of the model and programs it once (``convert(..., program=True)``;
calibrated on the metric's inputs where the mapping asks for it); the copy is then aged to each
time with :func:`torch_photonic.age` and evaluated. The metric is ``"minilm"`` (mean embedding
cosine over ``n`` sentences, :func:`~.metrics.minilm_cosine`), ``"smollm2"`` (perplexity over
``n_tokens`` tokens, :func:`~.metrics.smollm2_perplexity`), or any callable ``metric(model) ->
float`` with the full-precision ``model`` given.
"""
from __future__ import annotations

import copy
import math
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import torch
from torch import nn

from ..hardware.resolve import resolve
from ..nn.convert import convert
from ..nn.lifecycle import age, calibrate
from .data import CALIBRATION_PLAY, calibration_sentences, shakespeare_slice
from .diagnose import call_model, human_time
from .loaders import load_minilm, load_smollm2
from .metrics import minilm_cosine, smollm2_perplexity

__all__ = ["DEFAULT_TIMES", "METRICS", "accuracy_over_time", "plot_accuracy_over_time"]

#: 1 s, 1 hour, 1 day, 30 days, 1 year after programming.
DEFAULT_TIMES = (1, 3600, 86400, 2592000, 31536000)

#: The built-in metrics: what their value is, and whether higher is better.
METRICS: Dict[str, Dict[str, Any]] = {
    "minilm": dict(label="MiniLM embedding cosine (mean)", higher_is_better=True),
    "smollm2": dict(label="SmolLM2 perplexity", higher_is_better=False),
}


def _check_times(times: Iterable[float]) -> List[float]:
    out = []
    for t in times:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise ValueError(f"times: each time must be a finite number of seconds >= 0, got {t!r}")
        out.append(float(t))
    if not out:
        raise ValueError("times: give at least one time")
    return out


def _needs_calibration(cfg) -> bool:
    return cfg.mapping.input_range == "static" or cfg.mapping.adc_range == "calibrated"


class _Metric:
    """One metric: the full-precision model, how to evaluate a model, the reference value and
    the batches a mapping is calibrated on."""

    def __init__(self, metric: Union[str, Callable[[nn.Module], float]],
                 model: Optional[nn.Module], n: int, n_tokens: int, cache_dir: Optional[str],
                 calibration: Optional[Sequence[Any]]) -> None:
        self.calibration = None if calibration is None else list(calibration)
        if callable(metric):
            if model is None:
                raise ValueError("accuracy_over_time: a callable metric needs the full-precision "
                                 "model (model=...)")
            self.name = getattr(metric, "__name__", "metric")
            self.label, self.higher_is_better = self.name, None
            self.model, self._fn = model, metric
            self.reference = float(metric(model))
            return
        if metric not in METRICS:
            raise ValueError(f"accuracy_over_time: unknown metric {metric!r}; known: "
                             f"{', '.join(METRICS)} (or a callable metric(model) -> float)")
        self.name, self.label = metric, METRICS[metric]["label"]
        self.higher_is_better = METRICS[metric]["higher_is_better"]
        if metric == "minilm":
            tok, self.model = load_minilm()
            if self.calibration is None:
                self.calibration = [dict(tok(calibration_sentences(32, held_out=n),
                                             padding=True, truncation=True, max_length=128,
                                             return_tensors="pt"))]
            self._fn = lambda m: minilm_cosine(_already(m), n=n)
        else:
            tok, self.model = load_smollm2(cache_dir)
            if self.calibration is None:
                ids = shakespeare_slice(tok, n_tokens, play=CALIBRATION_PLAY)
                self.calibration = [dict(input_ids=ids.view(1, -1), use_cache=False)]
            self._fn = lambda m: smollm2_perplexity(_already(m), n_tokens=n_tokens,
                                                    cache_dir=cache_dir)
        self.reference = None

    def __call__(self, model: nn.Module) -> Dict[str, Any]:
        """``{"value", "reference", "details"}`` of ``model``."""
        with torch.no_grad():
            r = self._fn(model)
        if isinstance(r, dict):  # a built-in metric
            if self.name == "minilm":
                return dict(value=r["mean"], reference=1.0, details=r)
            return dict(value=r["ppl"], reference=r["ref_ppl"], details=r)
        return dict(value=float(r), reference=self.reference, details={})


def _already(model: nn.Module):
    """A transform that ignores the copy the metric makes and returns ``model`` (already
    converted, programmed and aged)."""
    def transform(_copy: nn.Module) -> nn.Module:
        return model
    transform.__name__ = "aged"
    return transform


def _label(spec: Any, overrides: Dict[str, Any]) -> str:
    label = spec if isinstance(spec, str) else getattr(spec, "name", "preset")
    if overrides:
        label += "(" + ",".join(f"{k}={v}" for k, v in overrides.items()) + ")"
    return label


def accuracy_over_time(metric: Union[str, Callable[[nn.Module], float]], preset: Any,
                       times: Iterable[float] = DEFAULT_TIMES, *, model: Optional[nn.Module] = None,
                       n: int = 200, n_tokens: int = 512, cache_dir: Optional[str] = None,
                       calibration: Optional[Sequence[Any]] = None,
                       exclude: Optional[Sequence[str]] = ("lm_head",),
                       **overrides: Any) -> List[Dict[str, Any]]:
    """The metric of a converted copy of the model, programmed once, at each age in ``times``
    (seconds after programming), for ``preset`` (a spec, or a list of specs: one series each;
    ``overrides`` apply to all).

    ``metric``: ``"minilm"`` (``n`` sentences), ``"smollm2"`` (``n_tokens`` tokens, ``cache_dir``
    of the converted SmolLM2) or a callable ``metric(model) -> float`` with ``model`` given.
    ``calibration``: batches (each passed to the model as a tensor, ``*tuple`` or ``**dict``)
    a mapping with calibrated ranges is calibrated on (default for the built-in metrics: their
    own inputs). Returns one row per preset and time: ``metric``, ``label``, ``preset``,
    ``seconds``, ``value``, ``reference`` (the full-precision value), ``higher_is_better`` and
    ``details`` (the built-in metric's full result).
    """
    times = _check_times(times)
    specs = list(preset) if isinstance(preset, (list, tuple)) else [preset]
    if not specs:
        raise ValueError("accuracy_over_time: give at least one preset")
    configs = [(_label(s, overrides), resolve(s, **overrides)) for s in specs]
    m = _Metric(metric, model, n, n_tokens, cache_dir, calibration)
    rows: List[Dict[str, Any]] = []
    for label, cfg in configs:
        conv = convert(copy.deepcopy(m.model), cfg, exclude=exclude, program=True).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the layers' own error warnings
            if _needs_calibration(cfg):
                if not m.calibration:
                    raise ValueError(f"accuracy_over_time: '{cfg.name}' calibrates its converter "
                                     f"ranges; give calibration=[batch, ...]")
                calibrate(conv, m.calibration, run=call_model)
            for t in times:
                age(conv, t)
                r = m(conv)
                rows.append(dict(metric=m.name, label=m.label, preset=label, seconds=t,
                                 value=r["value"], reference=r["reference"],
                                 higher_is_better=m.higher_is_better, details=r["details"]))
        del conv
    return rows


def plot_accuracy_over_time(rows: Sequence[Dict[str, Any]], path: str) -> str:
    """Writes a PNG of :func:`accuracy_over_time` rows to ``path``: one panel per metric, the
    age on a log axis, one line per preset, the full-precision reference dashed. Returns
    ``path``."""
    if not rows:
        raise ValueError("plot_accuracy_over_time: no rows to plot")
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    fig = Figure(figsize=(7, 4 * len(metrics)))
    FigureCanvasAgg(fig)
    for k, name in enumerate(metrics):
        ax = fig.add_subplot(len(metrics), 1, k + 1)
        mine = [r for r in rows if r["metric"] == name]
        for label in dict.fromkeys(r["preset"] for r in mine):
            pts = sorted((r["seconds"], r["value"]) for r in mine if r["preset"] == label)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        refs = sorted({r["reference"] for r in mine if r["reference"] is not None})
        for i, ref in enumerate(refs):
            ax.axhline(ref, linestyle="--", color="gray",
                       label="full precision" if i == 0 else None)
        ts = sorted({r["seconds"] for r in mine})
        if ts[0] > 0:
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=1.0)
        ax.minorticks_off()
        ax.set_xticks(ts)
        ax.set_xticklabels([human_time(t) for t in ts], rotation=30)
        ax.set_xlabel("time since programming")
        ax.set_ylabel(mine[0]["label"])
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
