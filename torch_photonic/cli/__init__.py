"""The ``torch-photonic`` command line: ``presets``, ``plan``, ``run``, ``accuracy``, ``report``."""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
