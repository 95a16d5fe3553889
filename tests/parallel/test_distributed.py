"""Multi-chip emulation on torch.distributed (gloo, CPU): two processes give the tokens of one,
their merged meter is one process's meter plus the transfers between them, and a rank that dies
stops the others with a clear error."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torch_photonic.energy.static import static_power
import torch_photonic as tp

HERE = Path(__file__).resolve().parent
RUN = ["run", "--preset", "ideal", "--path", "convert", "--tokens", "4", "--heldout-tokens",
       "32", "--news-sentences", "1", "--json", "--no-progress"]


def _env():
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _torchrun() -> str:
    exe = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    assert exe, "torchrun (installed with torch) is not on the PATH"
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    one = subprocess.run([sys.executable, "-m", "torch_photonic.cli", *RUN], cwd=d,
                         capture_output=True, text=True, env=_env(), timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([_torchrun(), "--nproc-per-node", "2", "--master-port",
                          str(_free_port()), "-m", "torch_photonic.cli", *RUN, "--distributed",
                          "--timeout", "60"], cwd=d, capture_output=True, text=True, env=_env(),
                         timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    return json.loads(one.stdout), json.loads(two.stdout)


def test_two_ranks_generate_the_tokens_of_one(runs):
    one, two = runs
    assert two["distributed"]["ranks"] == 2
    assert two["distributed"]["experts_per_rank"] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    for path in ("cpu", "convert"):
        assert two["results"][path]["tokens"] == one["results"][path]["tokens"]


def test_merged_meter_is_one_process_plus_the_links(runs):
    one, two = runs
    a = one["results"]["convert"]["joules_per_token_by_component"]
    b = two["results"]["convert"]["joules_per_token_by_component"]
    assert "interconnect" not in a and b["interconnect"] > 0
    for comp in set(a) | set(b):
        if comp in ("interconnect", "static"):
            continue
        assert b[comp] == pytest.approx(a[comp], rel=1e-9), comp
    # static power over the merged time: one process's seconds plus the transfers' seconds
    watts = sum(static_power(tp.preset("ideal")).values())
    s1 = one["results"]["convert"]["per_token"]["bottom_up"]["seconds"]
    s2 = two["results"]["convert"]["per_token"]["bottom_up"]["seconds"]
    assert s2 > s1
    assert a["static"] == pytest.approx(watts * s1, rel=1e-9)
    assert b["static"] == pytest.approx(watts * s2, rel=1e-9)


def test_a_dead_rank_stops_the_others_with_a_clear_error():
    port = str(_free_port())
    procs = []
    t0 = time.time()
    for rank in (0, 1):
        env = _env()
        env.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=port, PEER_TIMEOUT="5")
        procs.append(subprocess.Popen([sys.executable, str(HERE / "peer.py")], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out0 = procs[0].communicate(timeout=120)
    procs[1].communicate(timeout=60)
    assert procs[0].returncode == 3, out0[1][-2000:]
    assert "a peer process died or did not answer" in out0[1]
    assert time.time() - t0 < 100
