"""Checkpoints: a run killed with SIGKILL and resumed ends bit for bit where an uninterrupted run
ends; a checkpoint of another run (preset, model shape, hyperparameters) is refused naming what
differs; a resumed run never starts over and a fresh run never overwrites a checkpoint."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import resume_run
from tiny_models import same_weights, tiny_lm, token_ids
from torch_photonic.nn import convert
from torch_photonic.train import (CheckpointMismatchError, TrainConfig, load_checkpoint, lm_loss,
                                  train)
from torch_photonic.train.checkpoint import CHECKPOINT_NAME, save_checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _lm(model, batch, step):
    return lm_loss(model(batch), batch)


def _cfg(**kw):
    return TrainConfig(**{**dict(steps=4, lr=1e-2, batch_size=4, checkpoint_every=2,
                                 device="cpu"), **kw})


def _step_of(folder):
    try:
        return load_checkpoint(folder)["step"]
    except (FileNotFoundError, RuntimeError, EOFError, ValueError):
        return 0


def test_killed_run_resumes_bit_for_bit(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "resume_run.py"), str(tmp_path)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _step_of(tmp_path) < 4:  # the second checkpoint (every 2 steps)
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the run wrote no second checkpoint in 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _step_of(tmp_path)
    assert 4 <= killed_at < resume_run.STEPS
    # at most a temporary file the kill interrupted besides the checkpoint
    assert all(f.endswith(".tmp") for f in os.listdir(tmp_path) if f != CHECKPOINT_NAME)

    resumed, res = resume_run.run(str(tmp_path), resume=True)
    assert res.resumed_from == killed_at and len(res.curve) == resume_run.STEPS
    straight, ref = resume_run.run(None)
    assert same_weights(resumed, straight)
    assert [r["loss"] for r in res.curve] == [r["loss"] for r in ref.curve]
    assert not same_weights(straight, tiny_lm(dropout=0.1))  # it did train


def test_checkpoint_holds_the_run(tmp_path):
    res = train(tiny_lm(), token_ids(), _lm, _cfg(steps=3), checkpoint_dir=tmp_path,
                progress=False)
    state = load_checkpoint(tmp_path)
    assert state["step"] == 3 and len(state["curve"]) == 3 == len(res.curve)
    assert set(state) >= {"model", "optimizer", "scheduler", "rng", "fingerprint"}
    assert os.listdir(tmp_path) == [CHECKPOINT_NAME]  # no temporary file left behind
    torch.save({"weights": 1}, tmp_path / CHECKPOINT_NAME)
    with pytest.raises(ValueError, match="not a checkpoint"):
        load_checkpoint(tmp_path)


def test_finished_constant_run_continues(tmp_path):
    train(tiny_lm(), token_ids(), _lm, _cfg(steps=2), checkpoint_dir=tmp_path, progress=False)
    m = tiny_lm()
    res = train(m, token_ids(), _lm, _cfg(steps=4), checkpoint_dir=tmp_path, resume=True,
                progress=False)
    straight = tiny_lm()
    train(straight, token_ids(), _lm, _cfg(steps=4), progress=False)
    assert res.resumed_from == 2 and same_weights(m, straight)


def test_resume_needs_a_checkpoint_and_a_fresh_run_needs_none(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        train(tiny_lm(), token_ids(), _lm, _cfg(), checkpoint_dir=tmp_path, resume=True,
              progress=False)
    train(tiny_lm(), token_ids(), _lm, _cfg(steps=2), checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="resume=True"):
        train(tiny_lm(), token_ids(), _lm, _cfg(), checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        train(tiny_lm(), token_ids(), _lm, _cfg(), resume=True, progress=False)


def _write(tmp_path, model, **cfg):
    train(model, token_ids(), _lm, _cfg(steps=2, **cfg), checkpoint_dir=tmp_path, progress=False)


def test_other_preset_is_refused(tmp_path):
    _write(tmp_path, convert(tiny_lm(), "ideal"))
    with pytest.raises(CheckpointMismatchError,
                       match="written for preset 'ideal', this run uses 'silicon-photonic-128'"):
        train(convert(tiny_lm(), "silicon-photonic-128"), token_ids(), _lm, _cfg(),
              checkpoint_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointMismatchError, match="hash differs"):
        train(convert(tiny_lm(), "ideal", array__tile_rows=16), token_ids(), _lm, _cfg(),
              checkpoint_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointMismatchError, match="no preset"):
        train(tiny_lm(), token_ids(), _lm, _cfg(), checkpoint_dir=tmp_path, resume=True,
              progress=False)


def test_other_model_or_hyperparameters_are_refused(tmp_path):
    _write(tmp_path, tiny_lm())
    with pytest.raises(CheckpointMismatchError,
                       match=r"parameter 'emb.weight' has shape \(32, 32\) in the checkpoint, "
                             r"\(32, 48\) in the model"):
        train(tiny_lm(hidden=48), token_ids(), _lm, _cfg(), checkpoint_dir=tmp_path,
              resume=True, progress=False)
    with pytest.raises(CheckpointMismatchError, match="lr is 0.01 in the checkpoint, 0.02"):
        train(tiny_lm(), token_ids(), _lm, _cfg(lr=2e-2), checkpoint_dir=tmp_path, resume=True,
              progress=False)
    with pytest.raises(CheckpointMismatchError, match="temperature"):
        train(tiny_lm(), token_ids(), _lm, _cfg(), checkpoint_dir=tmp_path, resume=True,
              fingerprint_extra=dict(temperature=3.0), progress=False)


def test_save_is_atomic(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, dict(step=1))
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()

    def broken(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, dict(step=2))
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before
    assert os.listdir(tmp_path) == [CHECKPOINT_NAME]
