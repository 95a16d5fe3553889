"""The error budget of a model on a hardware config: which layers lose accuracy, and to which
non-ideality (:mod:`torch_photonic.hardware.effects`).

    d = diagnose(model, inputs, "glass-pcm-200mm", seconds=86400)
    print(format_diagnosis(d))

The model runs once in full precision; forward hooks capture the input of every ``nn.Linear``
that ``convert()`` would make photonic. Then, one layer at a time, its weight is programmed (with
the seed the store gives that parameter) under the full config and under the config with each
active effect alone (``only(cfg, effect)``), aged to ``seconds``, and multiplied optically with
the captured input. Each product is compared with the float32 product of the original weight on
the same input: ``||y - y_ref|| / ||y_ref||``. Every product of a layer reads its cells with the
same seeds, so the effects differ only in what is switched on. A mapping that calibrates its
converter ranges is calibrated on the captured input right after programming (before ageing),
as :func:`torch_photonic.calibrate` does on a converted model.

The end-to-end row converts a copy of the whole model (``convert`` + ``calibrate`` where the
mapping asks for it + ``age``), runs it on the same inputs and compares its final output (a
tensor, ``logits`` or ``last_hidden_state``) with the full-precision one.
"""
from __future__ import annotations

import copy
import math
import warnings
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..hardware.effects import EFFECTS, active_effects, only
from ..hardware.resolve import resolve
from ..nn.convert import convert, matches
from ..nn.lifecycle import age, calibrate
from ..optics import calibration, kernels
from ..optics.store import mix_seed, name_seed

__all__ = ["diagnose", "format_diagnosis", "call_model", "main_output", "relative_error",
           "human_time"]


def call_model(model: nn.Module, inputs: Any) -> Any:
    """``model(inputs)``, ``model(*inputs)`` for a tuple or ``model(**inputs)`` for a dict."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple):
        return model(*inputs)
    return model(inputs)


def main_output(out: Any) -> torch.Tensor:
    """The tensor a model's output stands for: itself, ``logits``, ``last_hidden_state``, or the
    first tensor of a tuple or mapping."""
    if isinstance(out, torch.Tensor):
        return out
    for key in ("logits", "last_hidden_state"):
        v = out.get(key) if isinstance(out, dict) else getattr(out, key, None)
        if isinstance(v, torch.Tensor):
            return v
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) \
        else ()
    for v in values:
        if isinstance(v, torch.Tensor):
            return v
    raise TypeError(f"diagnose: cannot find the output tensor of the model in a "
                    f"{type(out).__name__}")


def relative_error(y: torch.Tensor, ref: torch.Tensor) -> float:
    """``||y - ref|| / ||ref||`` in double precision (0 for two zeros, inf for a zero ref)."""
    den = ref.double().norm().item()
    num = (y.double() - ref.double()).norm().item()
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


def _layers(model: nn.Module, exclude: Optional[Sequence[str]]) -> List[Tuple[str, nn.Linear, str]]:
    """(module name, module, weight name) of every ``nn.Linear`` convert() would convert. The
    weight name is the store's: the first path of the parameter (tied weights share it)."""
    pnames: Dict[int, str] = {}
    for n, p in model.named_parameters(remove_duplicate=True):
        pnames.setdefault(id(p), n)
    out = []
    for name, mod in model.named_modules():
        if name and isinstance(mod, nn.Linear) and not matches(name, exclude):
            out.append((name, mod, pnames.get(id(mod.weight), f"{name}.weight")))
    return out


def _calibrate_state(st: kernels.ProgrammedState, x: torch.Tensor) -> None:
    """Calibrates the converter ranges the mapping asks for on ``x`` (at programming time), then
    forgets the clip counts of the calibration reads."""
    m = st.config.mapping
    phases = (["inputs"] if m.input_range == "static" else []) \
        + (["adc"] if m.adc_range == "calibrated" else [])
    for phase in phases:
        st.calibration = calibration.Collector(phase)
        kernels.mvm(x, st, seconds=0.0, seed=0)
        calibration.finish(st)
    st.clips = kernels.ClipCounts()


def _layer_error(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor],
                 y_ref: torch.Tensor, cfg, weight_name: str, seconds: float
                 ) -> Tuple[float, kernels.ClipCounts]:
    o, i = w.shape
    seed = mix_seed(cfg.seed, name_seed(weight_name), 0, o, i, 0)
    st = kernels.program(w, cfg, seed)
    _calibrate_state(st, x)
    y = kernels.mvm(x, st, seconds=seconds,
                    seed=mix_seed(cfg.seed, name_seed(weight_name), seed, 1), bias=b)
    return relative_error(y, y_ref), st.clips


def _check_effects(cfg, effects: Optional[Sequence[str]]) -> List[str]:
    active = active_effects(cfg)
    if effects is None:
        return active
    effects = [effects] if isinstance(effects, str) else list(effects)
    unknown = [e for e in effects if e not in EFFECTS]
    if unknown:
        raise ValueError(f"diagnose: unknown effect(s) {unknown}; known: {list(EFFECTS)}")
    off = [e for e in effects if e not in active]
    if off:
        raise ValueError(f"diagnose: effect(s) {off} are off in config '{cfg.name}'; "
                         f"active effects: {active}")
    return [e for e in EFFECTS if e in effects]  # the canonical order, no duplicates


@torch.no_grad()
def diagnose(model: nn.Module, inputs: Any, preset: Any = None, *, seconds: float = 0.0,
             exclude: Optional[Sequence[str]] = ("lm_head",),
             effects: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The error budget of ``model`` (unconverted, full precision) on ``preset`` for ``inputs``
    (a tensor, a tuple of arguments or a dict of keyword arguments), ``seconds`` after
    programming; see the module docstring.

    ``effects``: the effects to isolate (default: every effect active in the config; naming
    one that is off raises ``ValueError``). ``exclude``: module name patterns left digital,
    as ``convert``. Returns a dict: ``preset``, ``seconds``, ``effects``, ``layers`` (in model
    order: ``name``, ``shape``, ``rows``, ``error`` with all effects, ``errors`` per effect
    alone, ``dominant``, ``input_clip_rate``, ``output_clip_rate``, ``retries``), ``summary``
    (``by_error``, ``worst``, ``dominant``, ``dominant_counts``, ``mean_error``) and
    ``end_to_end`` (``rel_error`` of the final output, its ``shape``); ``not_run`` names the
    layers ``inputs`` did not reach.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"diagnose: model must be an nn.Module, got {type(model).__name__}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"diagnose: seconds must be a finite number >= 0, got {seconds!r}")
    cfg = resolve(preset)
    effects = _check_effects(cfg, effects)
    layers = _layers(model, exclude)
    if not layers:
        raise ValueError("diagnose: the model has no nn.Linear that convert() would make "
                         f"photonic (exclude={list(exclude or ())})")

    # One copy per distinct input tensor (q, k and v of a block share theirs), taken when the
    # layer runs, so that later in-place updates of the activations do not reach it.
    captured: Dict[str, List[torch.Tensor]] = {name: [] for name, _, _ in layers}
    copies: Dict[int, Tuple[torch.Tensor, torch.Tensor, int]] = {}
    hooks = []
    for name, mod, _ in layers:
        def hook(m, args, out, name=name):
            a = args[0]
            hit = copies.get(id(a))
            if hit is None or hit[0] is not a or hit[0]._version != hit[2]:
                hit = copies[id(a)] = (a, a.detach().to("cpu", copy=True), a._version)
            captured[name].append(hit[1].reshape(-1, m.in_features))
        hooks.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        ref_out = main_output(call_model(model, inputs)).detach().to("cpu", torch.float32)
    finally:
        for h in hooks:
            h.remove()
        copies.clear()
        model.train(was_training)

    configs = [("all", cfg)] + [(e, only(cfg, [e])) for e in effects]
    rows, not_run = [], []
    for name, mod, weight_name in layers:
        parts = captured.pop(name)
        if not parts:
            not_run.append(name)
            continue
        x = (parts[0] if len(parts) == 1 else torch.cat(parts)).float()
        del parts
        w = mod.weight.detach().to("cpu", torch.float32)
        b = None if mod.bias is None else mod.bias.detach().to("cpu", torch.float32)
        y_ref = F.linear(x, w, b)
        errors: Dict[str, float] = {}
        clips = kernels.ClipCounts()
        for label, c in configs:
            err, counts = _layer_error(x, w, b, y_ref, c, weight_name, float(seconds))
            errors[label] = err
            if label == "all":
                clips = counts
        n_rows = x.shape[0]
        del x, y_ref
        alone = {e: errors[e] for e in effects}
        rows.append(dict(name=name, shape=tuple(w.shape), rows=n_rows, error=errors["all"],
                         errors=alone, dominant=max(alone, key=alone.get) if alone else None,
                         input_clip_rate=clips.input_clip_rate,
                         output_clip_rate=clips.output_clip_rate, retries=clips.retries))
    return dict(preset=cfg.name, seconds=float(seconds), effects=list(effects),
                exclude=list(exclude or ()), layers=rows, not_run=not_run,
                summary=_summary(rows, effects),
                end_to_end=_end_to_end(model, inputs, cfg, exclude, float(seconds), ref_out))


def _summary(rows: List[Dict[str, Any]], effects: Sequence[str]) -> Dict[str, Any]:
    by_error = sorted(rows, key=lambda r: -r["error"])
    counts = Counter(r["dominant"] for r in rows if r["dominant"] is not None)
    mean = {"all": sum(r["error"] for r in rows) / len(rows)} if rows else {}
    for e in effects:
        mean[e] = sum(r["errors"][e] for r in rows) / len(rows)
    # most layers first; a tie goes to the effect with the larger mean error
    dominant = max(counts, key=lambda e: (counts[e], mean.get(e, 0.0))) if counts else None
    return dict(by_error=[(r["name"], r["error"]) for r in by_error],
                worst=dict(name=by_error[0]["name"], error=by_error[0]["error"]) if rows else None,
                dominant=dominant, dominant_counts=dict(counts.most_common()),
                mean_error=mean)


def _end_to_end(model: nn.Module, inputs: Any, cfg, exclude, seconds: float,
                ref_out: torch.Tensor) -> Dict[str, Any]:
    conv = convert(copy.deepcopy(model), cfg, exclude=exclude).eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the layers' own error warnings
            m = cfg.mapping
            if m.input_range == "static" or m.adc_range == "calibrated":
                calibrate(conv, [inputs], run=call_model)
            age(conv, seconds)
            out = main_output(call_model(conv, inputs)).detach().to("cpu", torch.float32)
        return dict(rel_error=relative_error(out, ref_out), shape=tuple(out.shape))
    finally:
        del conv


# ---------------------------------------------------------------------------------------------
# text rendering
# ---------------------------------------------------------------------------------------------

def _num(v: Optional[float]) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "0"
    return f"{v:.2e}" if abs(v) < 1e-3 or abs(v) >= 100 else f"{v:.4f}"


def human_time(seconds: float) -> str:
    """``seconds`` in the largest unit that fits: ``"30 d"``, ``"1 h"``, ``"1 s"``."""
    for unit, s in (("y", 31536000), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= s:
            return f"{seconds / s:.3g} {unit}"
    return f"{seconds:.3g} s"


def format_diagnosis(d: Dict[str, Any]) -> str:
    """A plain-text table of a :func:`diagnose` result: one row per layer (error with all
    effects, with each effect alone, the dominant one, converter clip rates), then the summary
    and the end-to-end error."""
    effects = list(d["effects"])
    rows = d["layers"]
    wname = max([len("layer")] + [len(r["name"]) for r in rows])
    heads = ["all"] + effects
    widths = [max(9, len(h)) for h in heads]
    head = (f"{'layer':<{wname}} {'shape':>11} "
            + " ".join(f"{h:>{w}}" for h, w in zip(heads, widths))
            + f"  {'dominant':<11} {'in clip':>8} {'out clip':>8} {'retries':>7}")
    lines = [f"error budget on '{d['preset']}' at {human_time(d['seconds'])} after programming: "
             f"||y - y_fp32|| / ||y_fp32|| per layer on its own captured input, with all "
             f"effects and with each effect alone", head, "-" * len(head)]
    for r in rows:
        vals = [r["error"]] + [r["errors"][e] for e in effects]
        shape = "x".join(str(s) for s in r["shape"])
        lines.append(f"{r['name']:<{wname}} {shape:>11} "
                     + " ".join(f"{_num(v):>{w}}" for v, w in zip(vals, widths))
                     + f"  {r['dominant'] or '-':<11} {_num(r['input_clip_rate']):>8} "
                       f"{_num(r['output_clip_rate']):>8} {r['retries']:>7}")
    s = d["summary"]
    lines.append("-" * len(head))
    mean = s["mean_error"]
    lines.append(f"{'mean':<{wname}} {'':>11} "
                 + " ".join(f"{_num(mean.get(h)):>{w}}" for h, w in zip(heads, widths)))
    if s["worst"]:
        worst = ", ".join(f"{n} ({_num(e)})" for n, e in s["by_error"][:5])
        lines.append(f"worst layers: {worst}")
    if s["dominant"]:
        n = s["dominant_counts"][s["dominant"]]
        lines.append(f"dominant effect: {s['dominant']} (largest alone in {n} of {len(rows)} "
                     f"layers; " + ", ".join(f"{e} {c}" for e, c in s["dominant_counts"].items())
                     + ")")
    else:
        lines.append("dominant effect: none (no effect is active in this config)")
    if d.get("not_run"):
        lines.append(f"not reached by the inputs: {', '.join(d['not_run'])}")
    e2e = d["end_to_end"]
    lines.append(f"end to end: relative error of the model's output "
                 f"{list(e2e['shape'])} with every layer converted: {_num(e2e['rel_error'])}")
    return "\n".join(lines)
