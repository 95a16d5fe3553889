"""The ``torch-photonic`` command line: ``presets``, ``plan``, ``run``, ``accuracy``, ``report``."""
from .main import main
from .parser import build_parser

__all__ = ["build_parser", "main"]
