"""The acceptance run: a DeepSeek-style model generating on the emulated chip.

:func:`run_deepseek` takes a built-in DeepSeek-V3-structured model, by default ``deepseek-tiny``
(trained weights, shipped with the package; ``deepseek-tiny-random`` and ``deepseek-small`` carry
random weights from a fixed seed), runs greedy generation on each path, and measures each
against full precision:

* ``cpu``: full precision on the CPU (the reference);
* ``convert``: ``convert(model, preset)`` on the CPU (photonic layers, fused experts included);
* ``photonic``: ``torch.photonic.set_config(preset)`` then ``model.to("photonic")`` (every
  ``mm``/``addmm``/``bmm``/``_grouped_mm`` goes through the device's optical matmul entry);
* ``finetuned`` (trained model only): a copy fine-tuned for the preset with
  :func:`~torch_photonic.train.finetune.finetune` on the training text, then deployed
  (:func:`~torch_photonic.eval.heldout.finetune_copy`).

For each emulated path it reports top-1 agreement and logits cosine vs full precision on the
generated tokens, joules per generated token by component, TOPS/W, the chips the model needs,
the GPU comparison, and the tokens routed to each expert. For the trained model every path also
reports, on held-out text (:mod:`torch_photonic.eval.heldout`): the perplexity on a Hamlet slice
and on news sentences, the teacher-forced top-1 agreement with full precision on the Hamlet
slice, the fraction of tokens per MoE layer whose routed experts differ from full precision's,
and the generated continuation of the opening of Hamlet as text. ``examples/deepseek_photonic.py``
and ``torch-photonic run`` print it; it is a library function so both stay thin.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from typing import Any, Dict, Optional, Sequence

from ..device.module import set_config
from ..energy.meter import meter
from ..energy.capacity import capacity_plan
from ..energy.gpu import gpu_plan
from ..energy.report import fmt_j, fmt_s
from ..energy.workload import workload
from ..hardware.names import DEFAULT_PRESET
from ..hardware.resolve import resolve
from ..models import deepseek as M
from ..models.deepseek_tiny import load_deepseek_tiny
from ..nn.convert import ConversionReport, convert
from ..nn.lifecycle import clip_rates, keep_digital
from .heldout import AGREEMENT_TARGET, compare_scores, finetune_copy, heldout_texts, score

__all__ = ["PATHS", "run_deepseek", "format_run"]

# What convert() leaves digital in a DeepSeek model (its default exclude, and the routers, which
# are not nn.Linear), kept digital on the device path too.
DIGITAL_ON_DEVICE = ("lm_head", "*.mlp.gate")
PATHS = ("cpu", "convert", "photonic", "finetuned")
# The fine-tuned model's cells are written when fine-tuning deploys it, before its generation is
# metered; the other paths write theirs in the first metered forward (``pcm_write``).
WRITTEN_AT_DEPLOYMENT = "  (cells written at deployment, before this meter: no pcm_write)"


def _report_dict(report: ConversionReport) -> Dict[str, Any]:
    """convert's report as plain data: its fields, totals and a one-line summary."""
    return dict(dataclasses.asdict(report), params_total=report.params_total,
                optical_fraction=report.optical_fraction, summary=str(report))


def _gpu_same_work(model, ids, tokens, gpu, joules_per_token):
    """The same decode (this model, its batch, the mean cached context of the run) on ``gpu``:
    the roofline of :func:`torch_photonic.energy.gpu.gpu_plan`, not a figure measured on other
    shapes."""
    batch, prompt = int(ids.shape[0]), int(ids.shape[1])
    g = gpu_plan(workload(model), gpu, batch=batch, context=prompt + tokens // 2)
    return dict(gpu=g["name"], batch=batch, context=g["context"], gpus_needed=g["gpus_needed"],
                joules_per_token=g["joules_per_token"],
                latency_s_per_token=g["latency_s_per_token"], bound=g["bound"],
                ratio_energy=(g["joules_per_token"] / joules_per_token)
                if joules_per_token else None)


def _measure(model, ids, tokens, cfg, ref, gpu, progress, label, spread=None):
    local = meter(cfg) if spread is None else spread.meter(cfg)
    with local as energy_meter, M.expert_counts(model) as ec:
        res = M.greedy_generate(model, ids, tokens, progress=progress)
    if spread is not None:
        energy_meter = spread.merge(energy_meter, cfg)
    cmp = M.compare_generations(ref, res)
    cmp.update(M.teacher_forced(model, ref))  # outside the meter: not charged
    per_tok = energy_meter.per_token(tokens)
    breakdown = {k: v / tokens for k, v in energy_meter.breakdown().items()}
    cap = energy_meter.capacity(tokens)
    try:
        gpu_cmp = _gpu_same_work(model, ids, tokens, gpu, per_tok.get("joules"))
    except ValueError as e:  # an unknown GPU name should not sink the run
        gpu_cmp = dict(error=f"{type(e).__name__}: {e}")
    return dict(path=label, tokens=res.tokens[0].tolist(), seconds=res.seconds, **cmp,
                joules_per_token=per_tok.get("joules"), per_token=per_tok,
                joules_per_token_by_component=breakdown, tops_per_watt=energy_meter.tops_per_watt,
                chips_needed=cap.get("chips_needed"), capacity=cap, gpu=gpu_cmp,
                tokens_per_expert=ec.total().tolist(), tokens_per_expert_by_layer=ec.to_dict(),
                meter=energy_meter)


def _heldout(model, texts, ref) -> tuple:
    """The held-out report of ``model`` against the full-precision scores ``ref`` (None: the
    model is full precision), and its Hamlet scores."""
    hamlet = score(model, texts.hamlet, texts.bos)
    news = score(model, texts.news, texts.bos)
    cmp = compare_scores(ref or hamlet, hamlet)
    return dict(hamlet_perplexity=hamlet.perplexity, news_perplexity=news.perplexity,
                **cmp), hamlet


def _emulated(path, ref_model, cfg, tok, finetune_args):
    """The model of an emulated path, the context its forwards run in, and what to report."""
    if path == "convert":
        m = convert(copy.deepcopy(ref_model), cfg).eval()
        return m, contextlib.nullcontext, dict(convert_report=_report_dict(m.photonic_report))
    if path == "photonic":
        # the same work as the convert path: the output head and the routers digital
        m = keep_digital(copy.deepcopy(ref_model), DIGITAL_ON_DEVICE).to("photonic")
        return m, lambda: set_config(cfg), {}  # restored afterwards
    m, info = finetune_copy(ref_model, cfg, tok, **finetune_args)
    extra = dict(finetune=info)
    if getattr(m, "photonic_report", None) is not None:
        extra["convert_report"] = _report_dict(m.photonic_report)
    return m, contextlib.nullcontext, extra


def _paths(paths, trained: bool, finetune_steps: int) -> list:
    """The paths to run: ``paths`` checked, or every path that applies to the model; the
    ``finetuned`` path left out when ``finetune_steps`` is 0."""
    if paths is None:
        paths = [p for p in PATHS if p != "finetuned" or (trained and finetune_steps)]
    bad = [p for p in paths if p not in PATHS]
    if bad:
        raise ValueError(f"unknown path(s) {bad}; choose from {', '.join(PATHS)}")
    if "finetuned" in paths and not trained:
        raise ValueError("path 'finetuned' needs a model with trained weights (deepseek-tiny)")
    return [p for p in paths if p != "finetuned" or finetune_steps]


def run_deepseek(model: str = "deepseek-tiny", preset: Any = DEFAULT_PRESET, tokens: int = 32,
                 paths: Optional[Sequence[str]] = None, prompt_len: Optional[int] = None,
                 seed: int = 0, experts_implementation: str = "grouped_mm", gpu: str = "h100",
                 plot: Optional[str] = None, report_json: Optional[str] = None,
                 progress: bool = True, strict: bool = False, heldout_tokens: int = 512,
                 news_sentences: int = 8, finetune_steps: int = 24, finetune_seq_len: int = 64,
                 finetune_batch_size: int = 8, distributed: bool = False,
                 timeout_s: float = 120.0) -> Optional[Dict[str, Any]]:
    """Run the acceptance example; returns a dict (``results[path]`` per path).

    ``paths`` picks among ``cpu`` (always run: it is the reference), ``convert``, ``photonic``
    and ``finetuned`` (default: all of them that apply; ``finetuned`` needs the trained model
    and ``finetune_steps > 0``, and is left out with ``finetune_steps=0``). The trained model
    is prompted with the end-of-text token and the first ``prompt_len`` (default 12) lines of
    Hamlet and scored on ``heldout_tokens`` tokens of Hamlet and ``news_sentences`` news
    sentences; a random-weight model gets a random prompt of ``prompt_len`` (default 12)
    tokens. The ``finetuned`` path trains ``finetune_steps`` steps of ``finetune_batch_size``
    rows of ``finetune_seq_len`` tokens. With ``strict=False`` a path that fails (e.g. a preset
    whose number format the optical kernel rejects) is recorded as ``{"error": ...}`` and the
    others still run. ``plot`` / ``report_json`` write the meter of the last emulated path that
    ran.

    ``distributed=True`` (under ``torchrun``): the emulated chips spread over the processes
    (:mod:`torch_photonic.parallel`: routed experts and layers across ranks, each rank meters
    its own chips, transfers between ranks charged, meters merged); only ``cpu`` and
    ``convert`` run; rank 0 returns the result, the other ranks None.
    """
    spread = None
    if distributed:
        from .distributed_run import Spread
        if paths is None:
            paths = ["cpu", "convert"]
        if set(paths) - {"cpu", "convert"}:
            raise ValueError(f"a distributed run runs the paths cpu and convert, not "
                             f"{sorted(set(paths) - {'cpu', 'convert'})}")
        spread = Spread(timeout_s)
    if tokens < 1:
        raise ValueError(f"tokens must be >= 1, got {tokens}")
    if finetune_steps < 0:
        raise ValueError(f"finetune_steps must be >= 0, got {finetune_steps}")
    t0 = time.perf_counter()
    config = M.get_model_config(model)
    trained = bool(M.MODELS[model].trained)
    paths = _paths(paths, trained, finetune_steps)
    tok = texts = None
    if trained:
        tok, ref_model = load_deepseek_tiny(experts_implementation)
        texts = heldout_texts(tok, heldout_tokens, news_sentences, prompt_len or 12)
        ids = texts.prompt
    else:
        ref_model = M.build_deepseek(config, seed=seed,
                                     experts_implementation=experts_implementation)
        ids = M.random_prompt(config, prompt_len or 12, seed=seed)
    out: Dict[str, Any] = dict(model=model, trained=trained, params=M.count_parameters(ref_model),
                               prompt=ids[0].tolist(), n_tokens=tokens,
                               experts_implementation=experts_implementation, results={})
    with M.expert_counts(ref_model) as ec:
        ref = M.greedy_generate(ref_model, ids, tokens, progress=progress)
    cpu = out["results"]["cpu"] = dict(path="cpu", tokens=ref.tokens[0].tolist(),
                                       seconds=ref.seconds, top1_agreement=1.0,
                                       logits_cosine=1.0, tokens_per_expert=ec.total().tolist())
    ref_hamlet = None
    if trained:
        out["heldout"] = texts.describe(tok)
        cpu["heldout"], ref_hamlet = _heldout(ref_model, texts, None)
        cpu["text"] = tok.decode(cpu["tokens"])
    cfg = None
    if any(p != "cpu" for p in paths):
        cfg = resolve(preset)
        out["preset"] = cfg.name
        out["plan"] = capacity_plan(ref_model, cfg)
    finetune_args = dict(steps=finetune_steps, seq_len=finetune_seq_len,
                         batch_size=finetune_batch_size, seed=seed, progress=progress)
    last_meter = None
    for path in paths:
        if path == "cpu":
            continue
        try:
            m, context, extra = _emulated(path, ref_model, cfg, tok, finetune_args)
            if spread is not None:
                extra.update(spread.install(m))
            with context():
                r = _measure(m, ids, tokens, cfg, ref, gpu, progress, path, spread)
                if trained:
                    r["heldout"], _ = _heldout(m, texts, ref_hamlet)
                    r["text"] = tok.decode(r["tokens"])
            r.update(extra)
            last_meter = r.pop("meter")
            r["converters"] = converter_summary(m)
            out["results"][path] = r
        except Exception as e:  # noqa: BLE001 - recorded, see strict
            if strict or spread is not None:   # a rank cannot skip collectives the others run
                raise
            out["results"][path] = dict(path=path, error=f"{type(e).__name__}: {e}")
    ft = out["results"].get("finetuned", {})
    if "heldout" in ft:
        value = ft["heldout"]["top1_agreement"]
        out["target"] = dict(metric="teacher-forced top-1 agreement with full precision on the "
                                    "held-out Hamlet slice, after fine-tuning",
                             threshold=AGREEMENT_TARGET, value=value,
                             met=value >= AGREEMENT_TARGET)
    if last_meter is not None:
        if report_json:
            last_meter.to_json(report_json)
            out["report_json"] = report_json
        if plot:
            last_meter.plot(plot)
            out["plot"] = plot
    out["seconds"] = time.perf_counter() - t0
    if spread is not None:
        out["distributed"] = spread.describe()
        if not spread.is_main:
            return None
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


def _one_line(text: str) -> str:
    return text.replace("\n", " / ")


def _layer_label(router: str) -> str:
    """``model.layers.3.mlp.gate`` -> ``3``."""
    parts = router.split(".")
    return parts[parts.index("layers") + 1] if "layers" in parts[:-1] else router


def _format_heldout(out: Dict[str, Any]) -> list:
    """The held-out table: perplexities, agreement and routing flips per path, the fine-tuning
    run and the target, then the generated text per path."""
    h = out["heldout"]
    rows = {p: r for p, r in out["results"].items() if "heldout" in r}
    routers = list(next(iter(rows.values()))["heldout"]["routing_flips"]) if rows else []
    lines = [f"held out (never trained on): Hamlet {h['hamlet_tokens']} tokens, news "
             f"{h['news_sentences']} sentences ({h['news_tokens']} tokens); teacher-forced",
             f"  {'path':<10}{'Hamlet ppl':>11}{'news ppl':>10}{'top-1 vs fp':>13}"
             f"{'logits cos':>12}   routing flips per MoE layer "
             f"({' / '.join(_layer_label(r) for r in routers)})"]
    for path, r in rows.items():
        x = r["heldout"]
        flips = " / ".join(f"{x['routing_flips'].get(k, float('nan')):.3f}" for k in routers)
        lines.append(f"  {path:<10}{x['hamlet_perplexity']:>11.2f}{x['news_perplexity']:>10.2f}"
                     f"{x['top1_agreement']:>13.3f}{x['logits_cosine']:>12.6f}   {flips}")
    ft = out["results"].get("finetuned", {}).get("finetune")
    if ft:
        lines.append(f"  finetuned: {ft['steps']} steps of {ft['batch_size']} x {ft['seq_len']} "
                     f"training tokens on {ft['preset']} in {ft['seconds']:.1f} s "
                     f"({ft['seconds_total']:.1f} s with preparation and deployment); "
                     f"distillation loss of the first and last batch {ft['loss_first']:.4g}, "
                     f"{ft['loss_last']:.4g}")
    t = out.get("target")
    if t:
        lines.append(f"  target: {t['metric']} >= {t['threshold']}: {t['value']:.3f}, "
                     f"{'met' if t['met'] else 'missed'}")
    lines.append(f"generated (greedy, free-running) after \"{_one_line(h['prompt_text'])}\":")
    for path, r in out["results"].items():
        if "text" in r:
            lines.append(f"  [{path:>9}] {_one_line(r['text'])}")
    return lines


def format_run(out: Dict[str, Any]) -> str:
    """Human-readable summary of :func:`run_deepseek`'s result."""
    weights = "trained weights" if out.get("trained") else "random weights"
    lines = [f"model {out['model']} ({out['params'] / 1e6:.2f} M params, {weights}, experts via "
             f"{out['experts_implementation']}), {out['n_tokens']} greedy tokens after a "
             f"{len(out['prompt'])}-token prompt; preset {out.get('preset', '-')}"]
    capacity = out.get("plan")
    if capacity:
        lines.append(f"  plan: {capacity.get('weights', 0) / 1e6:.2f} M optical weights, "
                     f"{capacity.get('cells_needed')} cells, chips needed {capacity.get('chips_needed')}")
    if out.get("heldout"):
        lines += _format_heldout(out)
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
                     f"{r['tops_per_watt']:.4g}  chips needed {r['chips_needed']}"
                     f"{WRITTEN_AT_DEPLOYMENT if 'finetune' in r else ''}")
        comp = "  ".join(f"{k} {fmt_j(v)}" for k, v in r["joules_per_token_by_component"].items())
        lines.append(f"           by component (per token): {comp}")
        g = r.get("gpu") or {}
        if "error" in g:
            lines.append(f"           GPU comparison unavailable: {g['error']}")
        elif g:
            ratio = g.get("ratio_energy")
            lines.append(f"           vs {g.get('gpu')} at the same work (batch {g['batch']}, "
                         f"context {g['context']}, {g['gpus_needed']} GPU, {g['bound']}-bound): "
                         f"{fmt_j(g['joules_per_token'])}/token, "
                         f"{fmt_s(g['latency_s_per_token'])}/token; GPU/photonic energy "
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
