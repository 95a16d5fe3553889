"""Runs the ``torch-photonic`` command for the CLI tests: the installed console script as a
process (``cli``), or ``main()`` in this process (``cli_inproc``, faster)."""
import os
import shutil
import subprocess
import sys

import pytest

from torch_photonic.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = "torch-photonic"


def script() -> str:
    """The console script that ``pip install`` put beside this interpreter (the venv's bin)."""
    bindir = os.path.dirname(sys.executable)
    path = shutil.which(SCRIPT, path=bindir)
    if path is None:
        pytest.fail(f"the {SCRIPT} console script is not installed beside {sys.executable} "
                    f"(no {os.path.join(bindir, SCRIPT)}): install the package with "
                    f"pip install --no-build-isolation -e \".[test]\"", pytrace=False)
    return path


def cli(*args, timeout=120):
    """Runs the installed ``torch-photonic`` with ``args``: returns (rc, stdout, stderr)."""
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    p = subprocess.run([script(), *args], capture_output=True, text=True, timeout=timeout,
                       env=env, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def cli_inproc(capsys, *args):
    """main() in this process (faster): returns (rc, stdout, stderr)."""
    try:
        rc = main(list(args))
    except SystemExit as e:  # argparse errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err
