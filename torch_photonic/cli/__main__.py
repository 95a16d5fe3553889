"""``python -m torch_photonic.cli``: the same as the ``torch-photonic`` script."""
import sys

from .main import main

sys.exit(main())
