"""The accuracy table: targets, rows, :func:`evaluate`, its text rendering, and the diagnosis
of a missed target (which layer: :func:`layer_errors`; which non-ideality: :func:`ablate_preset`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..hardware.effects import OFF
from .data import sentences
from .loaders import load_minilm
from .metrics import embed, minilm_cosine, smollm2_perplexity
from .transforms import Transform, apply_to_copy, fake_quant_transform, preset_transform

__all__ = ["FORMAT_SCALINGS", "TARGETS", "target_for", "Row", "evaluate", "format_rows",
           "layer_errors", "ABLATIONS", "ablate_preset"]

#: The format x scaling rows of the accuracy table: (format, scaling).
FORMAT_SCALINGS: List[Tuple[str, str]] = [
    ("fp8_e4m3", "mx"),
    ("fp8_e4m3", "block128"),
    ("fp4_e2m1", "nvfp4"),
]

#: The accuracy the emulated chip is held to (the bar of the README's accuracy table): MiniLM
#: embedding cosine lower bounds and SmolLM2 relative perplexity upper bounds, per row label
#: (``format/scaling`` or preset name; ``"fp8"`` covers every fp8 row without its own entry).
TARGETS: Dict[str, Dict[str, float]] = {
    "fp8": {"minilm_cos": 0.999},
    "fp8_e4m3/block128": {"minilm_cos": 0.999, "ppl_rel": 0.03},
    "fp4_e2m1/nvfp4": {"minilm_cos": 0.98},
    "glass": {"minilm_cos": 0.97},
    "ideal": {"minilm_cos": 0.999999},
}


def target_for(label: str) -> Dict[str, float]:
    """The targets that apply to a row label (format/scaling or preset name); may be empty."""
    if label in TARGETS:
        return dict(TARGETS[label])
    if label.startswith("fp8"):
        return dict(TARGETS["fp8"])
    for k in TARGETS:
        if label.startswith(k):
            return dict(TARGETS[k])
    return {}


@dataclass
class Row:
    label: str                   #: "fp8_e4m3/mx", "glass", ...
    kind: str                    #: "format" | "preset" | "reference" | "custom"
    minilm: Optional[Dict[str, float]] = None
    smollm2: Optional[Dict[str, Any]] = None
    targets: Dict[str, float] = field(default_factory=dict)
    error: Optional[str] = None

    def passed(self) -> Optional[bool]:
        """True/False against the targets that were measured; None if nothing to judge."""
        verdicts = []
        if "minilm_cos" in self.targets and self.minilm:
            verdicts.append(self.minilm["mean"] >= self.targets["minilm_cos"])
        if "ppl_rel" in self.targets and self.smollm2:
            verdicts.append(self.smollm2["ppl_rel"] <= self.targets["ppl_rel"])
        return all(verdicts) if verdicts else None

    def as_dict(self) -> Dict[str, Any]:
        return dict(label=self.label, kind=self.kind, minilm=self.minilm, smollm2=self.smollm2,
                    targets=self.targets, passed=self.passed(), error=self.error)


def _spec_to_transform(spec: Any) -> Tuple[str, str, Transform]:
    """(label, kind, transform) from a preset name, a (format, scaling) pair or (label, fn)."""
    if isinstance(spec, tuple) and len(spec) == 2 and callable(spec[1]):
        return spec[0], "custom", spec[1]
    if isinstance(spec, tuple) and len(spec) == 2:
        fmt, scaling = spec
        return f"{fmt}/{scaling}", "format", fake_quant_transform(fmt, scaling)
    if isinstance(spec, str):
        return spec, "preset", preset_transform(spec)
    if hasattr(spec, "name"):  # a HardwareConfig
        return spec.name, "preset", preset_transform(spec)
    raise TypeError(f"cannot evaluate {spec!r}: give a preset name, (format, scaling) or (label, fn)")


def evaluate(presets: Iterable[Any] = (), formats: Iterable[Tuple[str, str]] = FORMAT_SCALINGS,
             extra: Iterable[Tuple[str, Transform]] = (), *, minilm_n: int = 200,
             smollm2_tokens: Optional[int] = 512, smollm2_cache: Optional[str] = None,
             progress: bool = True, keep_going: bool = True) -> List[Row]:
    """The accuracy table: one :class:`Row` per format/scaling, preset and extra transform.

    ``smollm2_tokens=None`` skips SmolLM2 (MiniLM only); ``minilm_n=0`` skips MiniLM. With
    ``keep_going`` an error in one row (e.g. a preset whose format the quantizer rejects) is
    recorded in ``row.error`` and the other rows still run.
    """
    specs = [tuple(f) for f in formats] + list(presets) + [tuple(e) for e in extra]
    rows: List[Row] = []
    it: Iterable = specs
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(specs, desc="accuracy", unit="row")
    for spec in it:
        label, kind, fn = _spec_to_transform(spec)
        if progress:
            it.set_postfix_str(label)
        row = Row(label, kind, targets=target_for(label))
        try:
            if minilm_n:
                row.minilm = minilm_cosine(fn, n=minilm_n)
            if smollm2_tokens:
                row.smollm2 = smollm2_perplexity(fn, n_tokens=smollm2_tokens, cache_dir=smollm2_cache)
        except Exception as e:  # noqa: BLE001 - reported in the table
            if not keep_going:
                raise
            row.error = f"{type(e).__name__}: {e}"
        rows.append(row)
    return rows


def format_rows(rows: Sequence[Row]) -> str:
    """A plain-text table of :func:`evaluate` rows with targets and verdicts."""
    head = f"{'row':<28} {'MiniLM cos mean':>15} {'min':>8} {'target':>8}  " \
           f"{'SmolLM2 ppl':>11} {'d ppl':>7} {'top-1':>6} {'target':>7}  verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        mc = f"{r.minilm['mean']:.6f}" if r.minilm else "-"
        mn = f"{r.minilm['min']:.4f}" if r.minilm else "-"
        mt = f">={r.targets['minilm_cos']}" if "minilm_cos" in r.targets else ""
        sp = f"{r.smollm2['ppl']:.3f}" if r.smollm2 else "-"
        dp = f"{100 * r.smollm2['ppl_rel']:+.2f}%" if r.smollm2 else "-"
        t1 = f"{r.smollm2['top1_agreement']:.3f}" if r.smollm2 else "-"
        pt = f"<=+{100 * r.targets['ppl_rel']:.0f}%" if "ppl_rel" in r.targets else ""
        ok = r.passed()
        verdict = "ERROR " + (r.error or "") if r.error else \
            ("pass" if ok else "MISS" if ok is not None else "")
        lines.append(f"{r.label:<28} {mc:>15} {mn:>8} {mt:>8}  {sp:>11} {dp:>7} {t1:>6} {pt:>7}  {verdict}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Diagnosis: which layer, which non-ideality
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def layer_errors(transform: Transform, model: Optional[nn.Module] = None, tokenizer=None,
                 texts: Optional[Sequence[str]] = None, n: int = 32) -> List[Dict[str, Any]]:
    """Local error of every linear layer of ``transform(model)`` (default MiniLM).

    Each module of the transformed model that sits at the name of an ``nn.Linear`` of the
    reference is hooked; its output on its *own* input is compared with the reference layer's
    exact product on that same input, so the number is that layer's own error (not what it
    inherited). Returns rows ``{"layer", "cosine", "rel_err", "shape"}``, worst first.
    """
    if model is None:
        tokenizer, model = load_minilm()
    if tokenizer is None:
        raise ValueError("layer_errors needs a tokenizer for a custom model")
    texts = list(texts) if texts is not None else sentences(max(n, 1))[:n]
    ref_linear = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    tm = apply_to_copy(transform, model)
    stats: Dict[str, List[float]] = {}
    hooks = []
    for name, mod in tm.named_modules():
        if name not in ref_linear:
            continue
        ref = ref_linear[name]

        def hook(_m, args, out, name=name, ref=ref):
            x = args[0].to("cpu", torch.float32)
            y = (out if isinstance(out, torch.Tensor) else out[0]).to("cpu", torch.float32)
            y_ref = F.linear(x, ref.weight.float(), None if ref.bias is None else ref.bias.float())
            err = (y - y_ref).double()
            s = stats.setdefault(name, [0.0, 0.0, 0.0, 0.0])
            s[0] += (err * err).sum().item()
            s[1] += (y_ref.double() ** 2).sum().item()
            s[2] += (y.double() * y_ref.double()).sum().item()
            s[3] += (y.double() ** 2).sum().item()

        hooks.append(mod.register_forward_hook(hook))
    try:
        embed(tokenizer, tm, texts)
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for name, (e2, r2, yr, y2) in stats.items():
        rows.append(dict(layer=name, rel_err=math.sqrt(e2 / max(r2, 1e-30)),
                         cosine=yr / math.sqrt(max(r2 * y2, 1e-300)),
                         shape=tuple(ref_linear[name].weight.shape)))
    rows.sort(key=lambda r: -r["rel_err"])
    return rows


#: Non-idealities of a preset, each switched off alone (``resolve`` overrides, from
#: :data:`torch_photonic.hardware.effects.OFF`).
ABLATIONS: Dict[str, Dict[str, Any]] = {
    f"no {effect}": dict(fields) for effect, fields in OFF.items()
}


def ablate_preset(preset: str, n: int = 200, ablations: Optional[Dict[str, Dict[str, Any]]] = None,
                  progress: bool = True) -> List[Dict[str, Any]]:
    """MiniLM cosine of ``preset`` with each non-ideality switched off alone.

    Shows which non-ideality costs the accuracy: the ablation that recovers the most is the
    culprit. Rows ``{"ablation", "overrides", "mean", "min"}`` (or ``"error"``), the full preset
    first.
    """
    abl = dict(ablations if ablations is not None else ABLATIONS)
    cases = [("full preset", {})] + list(abl.items())
    if progress:
        from tqdm.auto import tqdm
        cases = tqdm(cases, desc=f"ablate {preset}", unit="case")
    out = []
    for label, ov in cases:
        try:
            r = minilm_cosine(preset_transform(preset, **ov), n=n)
            out.append(dict(ablation=label, overrides=ov, mean=r["mean"], min=r["min"]))
        except Exception as e:  # noqa: BLE001 - an override unknown to this preset
            out.append(dict(ablation=label, overrides=ov, error=f"{type(e).__name__}: {e}"))
    return out
