"""Runs the ``torch-photonic`` command for the CLI tests: as a process (``cli``) or in this
process (``cli_inproc``, faster)."""
import os
import subprocess
import sys

from torch_photonic.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(*args, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("HF_HUB_OFFLINE", "1")
    p = subprocess.run([sys.executable, "-m", "torch_photonic.cli", *args], capture_output=True,
                       text=True, timeout=timeout, env=env, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def cli_inproc(capsys, *args):
    """main() in this process (faster): returns (rc, stdout, stderr)."""
    try:
        rc = main(list(args))
    except SystemExit as e:  # argparse errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err
