"""``torch-photonic``: the command line of torch_photonic.

Commands (``--json`` on every one prints machine-readable output on stdout instead)::

    torch-photonic presets                      table of hardware presets (TOPS, TOPS/W, cells, sources)
    torch-photonic plan deepseek-v3             chips, cells and area a built-in model needs
    torch-photonic run --preset ideal           the DeepSeek acceptance run (cpu / convert / photonic /
                                                finetuned) of the trained tiny DeepSeek-V3
    torch-photonic accuracy --quick             accuracy on real weights (MiniLM, SmolLM2)
    torch-photonic report meter.json            re-render a saved meter report

Bad input (an unknown model, preset, GPU or format, a preset file with a missing field or a
non-integer count, ``--tokens 0``) gives a one-line error on stderr and exit code 2, before any
work starts. Work that was asked for and failed exits with code 1: a ``run`` path or an
``accuracy`` row that errored (the others still run and print; each failure is named on
stderr). ``--debug`` shows tracebacks of internal errors (exit code 1). The argparse tree is in :mod:`.parser`, the commands in :mod:`.commands`.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from .commands import UsageError
from .parser import PROG, build_parser

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for k in ("json", "debug"):  # SUPPRESS defaults: absent unless given somewhere
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
