"""The acceptance run of issue 7: a DeepSeek-style model generating on the emulated chip.

:func:`run_deepseek` builds a DeepSeek-V3-structured model (random weights, fixed seed), runs
greedy generation three ways, and measures each against full precision:

* ``cpu``: full precision on the CPU (the reference);
* ``convert``: ``tp.convert(model, preset)`` on the CPU (photonic layers, fused experts included);
* ``photonic``: ``torch.photonic.set_config(preset)`` then ``model.to("photonic")`` (every
  ``mm``/``addmm``/``bmm``/``_grouped_mm`` goes through the device's optical matmul entry).

For each emulated path it reports top-1 agreement and logits cosine vs full precision, joules
per generated token by component, TOPS/W, the chips the model needs, the GPU comparison, and
the tokens routed to each expert. ``examples/deepseek_photonic.py`` and ``torch-photonic run``
print it; it is a library function so both stay thin.

Parts of torch_photonic are imported lazily: the ``cpu`` path needs only transformers.
"""
from __future__ import annotations

import copy
import os
import time
from typing import Any, Dict, Optional, Sequence

import torch

from ..device.module import set_config
from ..energy.meter import meter
from ..energy.plan import plan
from ..hardware.resolve import resolve
from ..models import deepseek as M
from ..nn.convert import convert
from ..nn.lifecycle import label_parameters

__all__ = ["PATHS", "run_deepseek", "format_run", "set_device_config"]

PATHS = ("cpu", "convert", "photonic")


def set_device_config(cfg) -> None:
    """Select the config the ``photonic`` device's matmul entry uses."""
    set_config(cfg)


def _convert(model, cfg):
    out = convert(model, cfg)
    report = None
    if isinstance(out, tuple):
        out, report = out[0], (out[1] if len(out) > 1 else None)
    if report is None:
        report = getattr(out, "photonic_report", None) or getattr(out, "convert_report", None)
    return out, _report_dict(report)


def _report_dict(report) -> Optional[Dict[str, Any]]:
    """convert's ConversionReport as plain data (moved / left parameters)."""
    if report is None or isinstance(report, dict):
        return report
    if hasattr(report, "to_dict"):
        return report.to_dict()
    d: Dict[str, Any] = dict(summary=str(report))
    for k in ("preset", "converted", "excluded", "params_optical", "params_digital",
              "digital_params", "params_total", "optical_fraction"):
        if hasattr(report, k):
            v = getattr(report, k)
            d[k] = list(v) if isinstance(v, (list, tuple)) else v
    return d


def _measure(model, ids, tokens, cfg, ref, gpu, progress, label):
    with meter(cfg) as meter, M.expert_counts(model) as ec:
        res = M.greedy_generate(model, ids, tokens, progress=progress)
    cmp = M.compare_generations(ref, res)
    cmp.update(M.teacher_forced(model, ref))  # outside the meter: not charged
    per_tok = meter.per_token(tokens)
    breakdown = {k: v / tokens for k, v in meter.breakdown().items()}
    cap = meter.capacity(tokens)
    try:
        gpu_cmp = meter.compare(gpu)
    except Exception as e:  # noqa: BLE001 - a missing baseline should not sink the run
        gpu_cmp = dict(error=f"{type(e).__name__}: {e}")
    return dict(path=label, tokens=res.tokens[0].tolist(), seconds=res.seconds, **cmp,
                joules_per_token=per_tok.get("joules"), per_token=per_tok,
                joules_per_token_by_component=breakdown, tops_per_watt=meter.tops_per_watt,
                chips_needed=cap.get("chips_needed"), capacity=cap, gpu=gpu_cmp,
                tokens_per_expert=ec.total().tolist(), tokens_per_expert_by_layer=ec.to_dict(),
                meter=meter)


def run_deepseek(model: str = "deepseek-tiny", preset: Any = "glass-pcm-200mm", tokens: int = 32,
                 paths: Sequence[str] = PATHS, prompt_len: int = 12, seed: int = 0,
                 experts_implementation: str = "grouped_mm", gpu: str = "h100",
                 plot: Optional[str] = None, report_json: Optional[str] = None,
                 progress: bool = True, strict: bool = False) -> Dict[str, Any]:
    """Run the acceptance example; returns a dict (``results[path]`` per path).

    ``paths`` picks among ``cpu`` (always run: it is the reference), ``convert`` and
    ``photonic``. With ``strict=False`` a path that fails (e.g. a part not built) is recorded
    as ``{"error": ...}`` and the others still run. ``plot`` / ``report_json`` write the meter of
    the last emulated path that ran.
    """
    if tokens < 1:
        raise ValueError(f"tokens must be >= 1, got {tokens}")
    bad = [p for p in paths if p not in PATHS]
    if bad:
        raise ValueError(f"unknown path(s) {bad}; choose from {', '.join(PATHS)}")
    t0 = time.perf_counter()
    config = M.get_model_config(model)
    ref_model = M.build_deepseek(config, seed=seed, experts_implementation=experts_implementation)
    ids = M.random_prompt(config, prompt_len, seed=seed)
    out: Dict[str, Any] = dict(model=model, params=M.count_parameters(ref_model),
                               prompt=ids[0].tolist(), n_tokens=tokens,
                               experts_implementation=experts_implementation, results={})
    with M.expert_counts(ref_model) as ec:
        ref = M.greedy_generate(ref_model, ids, tokens, progress=progress)
    out["results"]["cpu"] = dict(path="cpu", tokens=ref.tokens[0].tolist(), seconds=ref.seconds,
                                 top1_agreement=1.0, logits_cosine=1.0,
                                 tokens_per_expert=ec.total().tolist())
    cfg = None
    if any(p != "cpu" for p in paths):
        try:
            cfg = resolve(preset)
            out["preset"] = cfg.name
        except Exception as e:  # noqa: BLE001
            if strict or isinstance(e, (ValueError, FileNotFoundError)):
                raise
            out["preset_error"] = f"{type(e).__name__}: {e}"
    if cfg is not None:
        try:
            out["plan"] = plan(ref_model, cfg)
        except Exception as e:  # noqa: BLE001
            out["plan"] = dict(error=f"{type(e).__name__}: {e}")
    last_meter = None
    for path in paths:
        if path == "cpu" or cfg is None:
            continue
        try:
            if path == "convert":
                m, report = _convert(copy.deepcopy(ref_model), cfg)
                r = _measure(m.eval(), ids, tokens, cfg, ref, gpu, progress, path)
                r["convert_report"] = report
            else:
                m = copy.deepcopy(ref_model).to("photonic")
                label_parameters(m)
                with torch.photonic.set_config(cfg):  # restored afterwards
                    r = _measure(m, ids, tokens, cfg, ref, gpu, progress, path)
            last_meter = r.pop("meter")
            out["results"][path] = r
        except Exception as e:  # noqa: BLE001 - recorded, see strict
            if strict:
                raise
            out["results"][path] = dict(path=path, error=f"{type(e).__name__}: {e}")
    if last_meter is not None:
        if report_json:
            last_meter.to_json(report_json)
            out["report_json"] = report_json
        if plot:
            last_meter.plot(plot)
            out["plot"] = plot
    out["seconds"] = time.perf_counter() - t0
    return out


def _fmt_j(x) -> str:
    try:
        from ..energy.report import fmt_j
        return fmt_j(x)
    except Exception:  # noqa: BLE001
        return "n/a" if x is None else f"{x:.4g} J"


def format_run(out: Dict[str, Any]) -> str:
    """Human-readable summary of :func:`run_deepseek`'s result."""
    lines = [f"model {out['model']} ({out['params'] / 1e6:.2f} M params, experts via "
             f"{out['experts_implementation']}), {out['n_tokens']} greedy tokens after a "
             f"{len(out['prompt'])}-token prompt; preset {out.get('preset', '-')}"]
    if "preset_error" in out:
        lines.append(f"  preset unavailable: {out['preset_error']}")
    plan = out.get("plan")
    if plan and "error" not in plan:
        lines.append(f"  plan: {plan.get('weights', 0) / 1e6:.2f} M optical weights, "
                     f"{plan.get('cells_needed')} cells, chips needed {plan.get('chips_needed')}")
    for path, r in out["results"].items():
        if "error" in r:
            lines.append(f"[{path:>8}] not run: {r['error']}")
            continue
        lines.append(f"[{path:>8}] top-1 agreement {r['top1_agreement']:.3f}  logits cosine "
                     f"{r['logits_cosine']:.6f}  ({r['seconds']:.2f} s)")
        if "teacher_forced_top1" in r:
            lines.append(f"           teacher-forced (same context each step): top-1 "
                         f"{r['teacher_forced_top1']:.3f}  logits cosine mean "
                         f"{r['teacher_forced_cosine']:.6f} min {r['teacher_forced_cosine_min']:.6f}"
                         f"  (first divergence at step {r['first_divergence']})")
        if path == "cpu":
            lines.append(f"           tokens {r['tokens']}")
            continue
        lines.append(f"           J/token {_fmt_j(r['joules_per_token'])}  TOPS/W "
                     f"{r['tops_per_watt']:.4g}  chips needed {r['chips_needed']}")
        comp = "  ".join(f"{k} {_fmt_j(v)}" for k, v in r["joules_per_token_by_component"].items())
        lines.append(f"           by component (per token): {comp}")
        g = r.get("gpu") or {}
        if "error" in g:
            lines.append(f"           GPU comparison unavailable: {g['error']}")
        elif g:
            ratio = g.get("ratio_energy")
            lines.append(f"           vs {g.get('gpu')} ({g.get('regime')}, matched "
                         f"{g.get('matched')}): GPU/photonic energy "
                         f"{'n/a' if ratio is None else f'{ratio:.3g}x'}")
        lines.append(f"           tokens per expert (all layers): {r['tokens_per_expert']}")
        if r.get("convert_report"):
            rep = r["convert_report"]
            if "summary" in rep:
                lines.append(f"           {rep['summary']}")
                dp = rep.get("digital_params") or []
                if dp:
                    lines.append(f"           digital parameters ({len(dp)}): {', '.join(dp[:6])}"
                                 f"{', ...' if len(dp) > 6 else ''}")
            else:
                lines.append(f"           convert: {rep}")
    if out.get("plot"):
        lines.append(f"plot written to {out['plot']}")
    lines.append(f"total {out['seconds']:.1f} s")
    return "\n".join(lines)
