"""``finetune`` and ``torch-photonic finetune`` on tiny models: the teacher is the model before
conversion, only the photonic layers train, the loss is the distillation (zero where the chip is
exact) or the plain LM loss, static-range presets learn their ranges, training brings the
deployed chip closer to the teacher, outputs are written, and bad input fails naming the
argument."""
import json
import os

import pytest
import torch

from tiny_models import TinyLM, tiny_encoder, tiny_lm, token_ids
from torch_photonic.cli import main
from torch_photonic.nn import PhotonicLinear, convert
from torch_photonic.train import batch_at, distill_kl, finetune, lm_loss, setups


def _plain(m):
    return not any(isinstance(x, PhotonicLinear) for x in m.modules())


def test_converts_distils_and_trains_only_the_photonic_layers(tmp_path):
    model, original = tiny_lm(), tiny_lm()
    data = token_ids()
    seen = []

    def heldout(m):
        seen.append(_plain(m))
        return dict(loss=lm_loss(m(data[:4]), data[:4]).item())

    res = finetune(model, "glass-pcm-200mm", data, steps=4, batch_size=4, lr=1e-3,
                   heldout=heldout, output_dir=tmp_path, progress=False)
    assert isinstance(model.fc1, PhotonicLinear) and not isinstance(model.lm_head, PhotonicLinear)
    assert seen == [True, False, False]  # the teacher (the full-precision copy), before, after
    assert res.teacher["loss"] == pytest.approx(heldout(original)["loss"], rel=1e-6)
    assert torch.equal(model.emb.weight, original.emb.weight)          # frozen
    assert torch.equal(model.lm_head.weight, original.lm_head.weight)  # frozen, digital
    assert not torch.equal(model.fc1.weight, original.fc1.weight)      # trained
    assert len(res.curve) == 4 and res.preset == "glass-pcm-200mm" and not model.training
    assert res.options["learn_ranges"] is False and res.options["distill"] is True
    saved = json.loads((tmp_path / "finetune.json").read_text())
    assert saved["after"] == res.after and len(saved["curve"]) == 4
    assert (tmp_path / "finetune.png").read_bytes()[:4] == b"\x89PNG"


def test_exact_chip_gives_zero_distillation_and_the_plain_lm_loss():
    data = token_ids()
    res = finetune(tiny_lm(), "ideal", data, steps=1, batch_size=4, noise=False, progress=False)
    assert abs(res.curve[0]["loss"]) < 1e-5  # the student equals the teacher on 'ideal'
    res = finetune(tiny_lm(), "ideal", data, steps=1, batch_size=4, noise=False, distill=False,
                   progress=False)
    b = batch_at(data, 0, 4, 0)
    with torch.no_grad():
        ref = lm_loss(tiny_lm()(b), b).item()
    assert res.curve[0]["loss"] == pytest.approx(ref, rel=1e-4)


def test_embedding_model_distils_hidden_states():
    ids = token_ids(4, 6)
    mask = torch.ones_like(ids)
    mask[0, 4:] = 0
    batches = [dict(input_ids=ids, attention_mask=mask)]
    res = finetune(tiny_encoder(), "ideal", batches, steps=1, noise=False, exclude=(),
                   progress=False)
    assert abs(res.curve[0]["loss"]) < 1e-5
    with pytest.raises(ValueError, match="distill"):
        finetune(tiny_encoder(), "ideal", batches, steps=1, distill=False, exclude=(),
                 progress=False)


@pytest.mark.filterwarnings("ignore:photonic layer:RuntimeWarning")  # this preset is coarse
def test_static_ranges_are_learned_and_training_helps_the_deployed_chip():
    data = token_ids()
    fixed = data[:8]
    teacher = tiny_lm()

    def heldout(m):  # how far the deployed chip is from the teacher on the training rows
        return dict(kl=distill_kl(m(fixed), teacher(fixed), 2.0).item())

    model = tiny_lm()
    res = finetune(model, "pcm-tensor-core-2021", [fixed], steps=30, batch_size=4, lr=3e-3,
                   heldout=heldout, progress=False)
    assert res.options["learn_ranges"] is True
    ranges = {k: v for k, v in model.state_dict().items() if k.endswith("input_range")}
    assert sorted(ranges) == ["fc1.input_range", "fc2.input_range"]
    assert res.after["kl"] < 0.9 * res.before["kl"], (res.before, res.after)
    assert res.teacher["kl"] == pytest.approx(0.0, abs=1e-6)


def test_learned_ranges_need_static_ranges():
    model = tiny_lm()
    with pytest.raises(ValueError, match=r"learn_ranges.*glass-pcm-200mm.*mapping.input_range"):
        finetune(model, "glass-pcm-200mm", token_ids(), steps=1, learn_ranges=True,
                 progress=False)
    assert _plain(model)  # nothing was converted


@pytest.mark.parametrize("kw,exc,needle", [
    (dict(preset="no-such-chip"), ValueError, "preset: unknown preset 'no-such-chip'"),
    (dict(steps=0), ValueError, "steps"),
    (dict(train_data=[]), ValueError, "train_data"),
    (dict(train_data=torch.arange(12)), ValueError, "train_data"),
    (dict(train_data=token_ids(2, 12)), ValueError, "batch_size"),
    (dict(learn_ranges="yes"), ValueError, "learn_ranges"),
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(heldout=3), TypeError, "heldout"),
])
def test_bad_input_names_the_argument(kw, exc, needle):
    args = dict(preset="ideal", train_data=token_ids(), steps=1, batch_size=4)
    args.update(kw)
    model = tiny_lm()
    with pytest.raises(exc, match=needle):
        finetune(model, args.pop("preset"), args.pop("train_data"), progress=False, **args)
    assert _plain(model)


def test_converted_model_needs_a_teacher_and_its_own_preset():
    with pytest.raises(ValueError, match="teacher"):
        finetune(convert(tiny_lm(), "ideal"), "ideal", token_ids(), steps=1, batch_size=4,
                 progress=False)
    with pytest.raises(ValueError, match="already converted to ideal"):
        finetune(convert(tiny_lm(), "ideal"), "glass-pcm-200mm", token_ids(), steps=1,
                 batch_size=4, teacher=tiny_lm(), progress=False)
    model = convert(tiny_lm(), "ideal")
    res = finetune(model, "ideal", token_ids(), steps=2, batch_size=4, teacher=tiny_lm(),
                   progress=False)
    assert len(res.curve) == 2


def test_resume_with_other_options_is_refused(tmp_path):
    finetune(tiny_lm(), "ideal", token_ids(), steps=2, batch_size=4, checkpoint_dir=tmp_path,
             progress=False)
    with pytest.raises(ValueError, match="temperature is 2.0 in the checkpoint, 3.0"):
        finetune(tiny_lm(), "ideal", token_ids(), steps=2, batch_size=4, temperature=3.0,
                 checkpoint_dir=tmp_path, resume=True, progress=False)


# ------------------------------------------------------------------------------- the CLI

def _cli(capsys, *args):
    try:
        rc = main(list(args))
    except SystemExit as e:  # argparse errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def tiny_setup(monkeypatch):
    """``finetune --model smollm2`` on the tiny LM (the real models take minutes)."""
    asked = {}

    def prepare(name, *, rows, seq_len, tokens=256, sentences_n=100, cache_dir=None):
        asked.update(name=name, rows=rows, seq_len=seq_len, tokens=tokens)
        data = token_ids(rows, seq_len)
        return setups.Setup(name, TinyLM(), data,
                            lambda m: dict(loss=lm_loss(m(data[:2]), data[:2]).item()), "tiny LM")
    monkeypatch.setattr(setups, "prepare", prepare)
    return asked


def test_cli_finetune_runs_and_resumes(capsys, tmp_path, tiny_setup):
    ck, out = str(tmp_path / "ck"), str(tmp_path / "out")
    base = ("finetune", "--model", "smollm2", "--preset", "ideal", "--steps", "3",
            "--batch-size", "2", "--seq-len", "8", "--tokens", "16", "--checkpoint-dir", ck,
            "--out", out)
    rc, stdout, err = _cli(capsys, *base, "--json")
    assert rc == 0, err
    d = json.loads(stdout)
    assert tiny_setup == dict(name="smollm2", rows=6, seq_len=8, tokens=16)
    assert len(d["curve"]) == 3 and d["preset"] == "ideal" and d["resumed_from"] is None
    assert set(d["before"]) == {"loss"} and os.path.exists(os.path.join(out, "finetune.png"))
    rc, stdout, err = _cli(capsys, *base)
    assert rc == 2 and "--resume" in err and not stdout
    rc, stdout, err = _cli(capsys, *base, "--resume")
    assert rc == 0 and "resumed from step 3" in stdout and "after" in stdout, err


@pytest.mark.parametrize("args,needle", [
    (("--model", "bert"), "bert"),
    (("--model", "minilm", "--steps", "0"), "--steps"),
    (("--model", "minilm", "--tokens", "16"), "--tokens"),
    (("--model", "smollm2", "--sentences", "16"), "--sentences"),
    (("--model", "minilm", "--no-distill"), "--no-distill"),
    (("--model", "smollm2", "--learn-ranges", "yes"), "mapping.input_range"),
    (("--model", "smollm2", "--resume"), "--checkpoint-dir"),
    (("--model", "smollm2", "--preset", "no-such-chip"), "no-such-chip"),
    (("--model", "smollm2", "--lr", "-1"), "--lr"),
])
def test_cli_bad_input_exits_2(capsys, tmp_path, tiny_setup, args, needle):
    rc, out, err = _cli(capsys, "finetune", *args, "--out", str(tmp_path))
    assert rc == 2 and needle in err and "Traceback" not in err, err
    assert not tiny_setup  # failed before any model loaded
