"""The acceptance run: a DeepSeek-style model generating on the emulated chip.

:func:`run_deepseek` builds a DeepSeek-V3-structured model (random weights, fixed seed), runs
greedy generation three ways, and measures each against full precision:

* ``cpu``: full precision on the CPU (the reference);
* ``convert``: ``convert(model, preset)`` on the CPU (photonic layers, fused experts included);
* ``photonic``: ``torch.photonic.set_config(preset)`` then ``model.to("photonic")`` (every
  ``mm``/``addmm``/``bmm``/``_grouped_mm`` goes through the device's optical matmul entry).

For each emulated path it reports top-1 agreement and logits cosine vs full precision, joules
per generated token by component, TOPS/W, the chips the model needs, the GPU comparison, and
the tokens routed to each expert. ``examples/deepseek_photonic.py`` and ``torch-photonic run``
print it; it is a library function so both stay thin.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any, Dict, Optional, Sequence

from ..device.module import set_config
from ..energy.meter import meter
from ..energy.plan import plan
from ..energy.report import fmt_j
from ..hardware.names import DEFAULT_PRESET
from ..hardware.resolve import resolve
from ..models import deepseek as M
from ..nn.convert import ConversionReport, convert
from ..nn.lifecycle import clip_rates, keep_digital

__all__ = ["PATHS", "run_deepseek", "format_run"]

# What convert() leaves digital in a DeepSeek model (its default exclude, and the routers, which
# are not nn.Linear), kept digital on the device path too.
DIGITAL_ON_DEVICE = ("lm_head", "*.mlp.gate")
PATHS = ("cpu", "convert", "photonic")


def _report_dict(report: ConversionReport) -> Dict[str, Any]:
    """convert's report as plain data: its fields, totals and a one-line summary."""
    return dict(dataclasses.asdict(report), params_total=report.params_total,
                optical_fraction=report.optical_fraction, summary=str(report))


def _measure(model, ids, tokens, cfg, ref, gpu, progress, label):
    with meter(cfg) as energy_meter, M.expert_counts(model) as ec:
        res = M.greedy_generate(model, ids, tokens, progress=progress)
    cmp = M.compare_generations(ref, res)
    cmp.update(M.teacher_forced(model, ref))  # outside the meter: not charged
    per_tok = energy_meter.per_token(tokens)
    breakdown = {k: v / tokens for k, v in energy_meter.breakdown().items()}
    cap = energy_meter.capacity(tokens)
    try:
        gpu_cmp = energy_meter.compare(gpu)
    except ValueError as e:  # an unknown GPU name should not sink the run
        gpu_cmp = dict(error=f"{type(e).__name__}: {e}")
    return dict(path=label, tokens=res.tokens[0].tolist(), seconds=res.seconds, **cmp,
                joules_per_token=per_tok.get("joules"), per_token=per_tok,
                joules_per_token_by_component=breakdown, tops_per_watt=energy_meter.tops_per_watt,
                chips_needed=cap.get("chips_needed"), capacity=cap, gpu=gpu_cmp,
                tokens_per_expert=ec.total().tolist(), tokens_per_expert_by_layer=ec.to_dict(),
                meter=energy_meter)


def run_deepseek(model: str = "deepseek-tiny", preset: Any = DEFAULT_PRESET, tokens: int = 32,
                 paths: Sequence[str] = PATHS, prompt_len: int = 12, seed: int = 0,
                 experts_implementation: str = "grouped_mm", gpu: str = "h100",
                 plot: Optional[str] = None, report_json: Optional[str] = None,
                 progress: bool = True, strict: bool = False) -> Dict[str, Any]:
    """Run the acceptance example; returns a dict (``results[path]`` per path).

    ``paths`` picks among ``cpu`` (always run: it is the reference), ``convert`` and
    ``photonic``. With ``strict=False`` a path that fails (e.g. a preset whose number format
    the optical kernel rejects) is recorded as ``{"error": ...}`` and the others still run.
    ``plot`` / ``report_json`` write the meter of the last emulated path that ran.
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
        cfg = resolve(preset)
        out["preset"] = cfg.name
        out["plan"] = plan(ref_model, cfg)
    last_meter = None
    for path in paths:
        if path == "cpu":
            continue
        try:
            if path == "convert":
                m = convert(copy.deepcopy(ref_model), cfg).eval()
                r = _measure(m, ids, tokens, cfg, ref, gpu, progress, path)
                r["convert_report"] = _report_dict(m.photonic_report)
            else:
                # the same work as the convert path: the output head and the routers digital
                m = keep_digital(copy.deepcopy(ref_model), DIGITAL_ON_DEVICE).to("photonic")
                with set_config(cfg):  # restored afterwards
                    r = _measure(m, ids, tokens, cfg, ref, gpu, progress, path)
            last_meter = r.pop("meter")
            r["converters"] = converter_summary(m)
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


def converter_summary(model) -> Dict[str, Any]:
    """The converters' clip statistics of ``model``'s optical layers since programming: overall
    input and ADC clip rates, bound-management retries, and the layer whose ADC clips most."""
    rates = clip_rates(model)
    if not rates:
        return {}
    tot = {k: sum(r[k] for r in rates.values())
           for k in ("inputs", "inputs_clipped", "outputs", "outputs_clipped", "retries")}
    worst, w = max(rates.items(), key=lambda kv: kv[1]["output_clip_rate"])
    return dict(input_clip_rate=tot["inputs_clipped"] / max(tot["inputs"], 1),
                output_clip_rate=tot["outputs_clipped"] / max(tot["outputs"], 1),
                retries=tot["retries"], worst_layer=worst,
                worst_output_clip_rate=w["output_clip_rate"])


def format_run(out: Dict[str, Any]) -> str:
    """Human-readable summary of :func:`run_deepseek`'s result."""
    lines = [f"model {out['model']} ({out['params'] / 1e6:.2f} M params, experts via "
             f"{out['experts_implementation']}), {out['n_tokens']} greedy tokens after a "
             f"{len(out['prompt'])}-token prompt; preset {out.get('preset', '-')}"]
    capacity = out.get("plan")
    if capacity:
        lines.append(f"  plan: {capacity.get('weights', 0) / 1e6:.2f} M optical weights, "
                     f"{capacity.get('cells_needed')} cells, chips needed {capacity.get('chips_needed')}")
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
        lines.append(f"           J/token {fmt_j(r['joules_per_token'])}  TOPS/W "
                     f"{r['tops_per_watt']:.4g}  chips needed {r['chips_needed']}")
        comp = "  ".join(f"{k} {fmt_j(v)}" for k, v in r["joules_per_token_by_component"].items())
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
        cv = r.get("converters")
        if cv:
            lines.append(f"           converters: input clip rate {cv['input_clip_rate']:.2e}, ADC "
                         f"clip rate {cv['output_clip_rate']:.2e} (most: {cv['worst_layer']} "
                         f"{cv['worst_output_clip_rate']:.2e}), bound-management retries "
                         f"{cv['retries']}")
        if r.get("convert_report"):
            rep = r["convert_report"]
            lines.append(f"           {rep['summary']}")
            dp = rep["digital_params"]
            if dp:
                lines.append(f"           digital parameters ({len(dp)}): {', '.join(dp[:6])}"
                             f"{', ...' if len(dp) > 6 else ''}")
    if out.get("plot"):
        lines.append(f"plot written to {out['plot']}")
    lines.append(f"total {out['seconds']:.1f} s")
    return "\n".join(lines)
