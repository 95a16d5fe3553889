"""The trainer's pieces against independent references: ``TrainConfig`` validation and its
schedule against closed forms, deterministic batches, the data contract's errors, the losses
against ``F.cross_entropy`` and hand-computed KL and cosine values, and the training loop's
per-step determinism, parameter groups and NaN handling."""
import math

import pytest
import torch
import torch.nn.functional as F

from tiny_models import TinyLM, same_weights, tiny_lm, token_ids
from torch_photonic.train import (TrainConfig, batch_at, check_data, distill_kl, hidden_distill,
                                  lm_loss, train)


def _lm(model, batch, step):
    return lm_loss(model(batch), batch)


# ------------------------------------------------------------------------------- TrainConfig

@pytest.mark.parametrize("kw,field,exc", [
    (dict(steps=0), "steps", ValueError),
    (dict(steps=2.5), "steps", TypeError),
    (dict(steps=True), "steps", TypeError),
    (dict(steps=3, lr=0.0), "lr", ValueError),
    (dict(steps=3, lr=float("nan")), "lr", ValueError),
    (dict(steps=3, weight_decay=-1e-3), "weight_decay", ValueError),
    (dict(steps=3, warmup_steps=-1), "warmup_steps", ValueError),
    (dict(steps=3, schedule="linear"), "schedule", ValueError),
    (dict(steps=3, batch_size=0), "batch_size", ValueError),
    (dict(steps=3, grad_clip=0.0), "grad_clip", ValueError),
    (dict(steps=3, checkpoint_every=0), "checkpoint_every", ValueError),
    (dict(steps=3, log_every=0), "log_every", ValueError),
    (dict(steps=3, seed="0"), "seed", TypeError),
    (dict(steps=3, device="tpu"), "device", ValueError),
])
def test_config_names_the_bad_field(kw, field, exc):
    with pytest.raises(exc, match=f"TrainConfig.{field}: expected"):
        TrainConfig(**kw)


def test_schedule_matches_closed_forms():
    c = TrainConfig(steps=10, warmup_steps=4, schedule="cosine")
    assert [c.lr_factor(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    for s in range(4, 10):
        assert c.lr_factor(s) == pytest.approx(0.5 * (1 + math.cos(math.pi * (s - 4) / 6)))
    k = TrainConfig(steps=10, warmup_steps=2)
    assert [k.lr_factor(s) for s in range(10)] == [0.5] + [1.0] * 9
    assert "steps" not in k.resume_fields() and "steps" in c.resume_fields()
    assert "checkpoint_every" not in c.resume_fields() and "lr" in c.resume_fields()


def test_curve_records_the_scheduled_lr():
    cfg = TrainConfig(steps=6, lr=1e-2, warmup_steps=2, schedule="cosine", batch_size=4,
                      device="cpu")
    res = train(tiny_lm(), token_ids(), _lm, cfg, progress=False)
    assert [r["step"] for r in res.curve] == list(range(6)) and res.steps == 6
    for r in res.curve:
        assert r["lr"] == pytest.approx(1e-2 * cfg.lr_factor(r["step"]), rel=1e-12)
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(res.curve, res.curve[1:]))


# ------------------------------------------------------------------------------- data

def test_batches_are_deterministic_and_cover_each_epoch():
    data = torch.arange(10 * 3).view(10, 3)
    torch.manual_seed(123)
    first = [batch_at(data, s, 3, seed=7) for s in range(6)]
    torch.manual_seed(456)  # the global RNG does not matter
    again = [batch_at(data, s, 3, seed=7) for s in range(6)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    rows = lambda bs: sorted(int(r[0]) // 3 for b in bs for r in b)  # noqa: E731
    assert len(set(rows(first[:3]))) == 9  # epoch 0: 3 batches, 9 distinct rows (1 skipped)
    assert len(set(rows(first[3:]))) == 9  # epoch 1 likewise
    assert [b.tolist() for b in first[:3]] != [b.tolist() for b in first[3:]]  # reshuffled
    other = [batch_at(data, s, 3, seed=8) for s in range(3)]
    assert [b.tolist() for b in other] != [b.tolist() for b in first[:3]]


def test_list_data_is_read_in_turn():
    items = [torch.full((2, 3), i) for i in range(3)]
    assert [int(batch_at(items, s, 99, 0)[0, 0]) for s in range(7)] == [0, 1, 2, 0, 1, 2, 0]


@pytest.mark.parametrize("data,bs,exc,needle", [
    (torch.zeros(0, 4, dtype=torch.long), 1, ValueError, "empty"),
    (torch.zeros(8, dtype=torch.long), 1, ValueError, "2-D"),
    (torch.zeros(2, 3, 4, dtype=torch.long), 1, ValueError, "2-D"),
    (torch.zeros(4, 4), 1, TypeError, "integer token ids"),
    (torch.zeros(4, 4, dtype=torch.long), 5, ValueError, "batch_size 5"),
    ([], 1, ValueError, "empty"),
    (["some text"], 1, TypeError, "batch 0"),
    ([{"input_ids": [1, 2]}], 1, TypeError, "input_ids"),
    ([{}], 1, ValueError, "empty mapping"),
    ("text", 1, TypeError, "2-D integer tensor"),
])
def test_bad_data_names_train_data(data, bs, exc, needle):
    with pytest.raises(exc, match="train_data") as e:
        check_data(data, bs)
    assert needle in str(e.value)


# ------------------------------------------------------------------------------- losses

def test_lm_loss_is_shifted_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=g)
    ids = torch.randint(0, 7, (2, 5), generator=g)
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, 7), ids[:, 1:].reshape(-1))
    assert torch.allclose(lm_loss(logits, ids), ref, rtol=1e-6)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    each = F.cross_entropy(logits[:, :-1].reshape(-1, 7), ids[:, 1:].reshape(-1),
                           reduction="none").view(2, 4)
    keep = mask[:, 1:].bool()
    assert torch.allclose(lm_loss(logits, ids, mask), each[keep].mean(), rtol=1e-6)
    with pytest.raises(ValueError, match="ids"):
        lm_loss(logits, ids[:, :4])


def test_distill_kl_against_hand_computation():
    s = torch.randn(2, 3, 5)
    assert distill_kl(s, s.clone(), 2.0).abs().item() < 1e-6
    # One token, two classes, T = 2: p_t = softmax([2, 0] / 2), p_s = softmax([0, 0] / 2).
    pt1 = 1 / (1 + math.exp(-1.0))
    kl = pt1 * math.log(pt1 / 0.5) + (1 - pt1) * math.log((1 - pt1) / 0.5)
    got = distill_kl(torch.tensor([[[0.0, 0.0]]]), torch.tensor([[[2.0, 0.0]]]), 2.0)
    assert got.item() == pytest.approx(4 * kl, rel=1e-6)
    # T^2 scaling: logits scaled by T at temperature T give T^2 times the T = 1 value.
    t = torch.randn(2, 3, 5)
    for T in (0.5, 3.0):
        assert distill_kl(s * T, t * T, T).item() == pytest.approx(
            T * T * distill_kl(s, t, 1.0).item(), rel=1e-5)
    # a masked-out token does not count
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    s2 = s.clone()
    s2[0, 2] += 10
    assert distill_kl(s2, t, 2.0, mask).item() == pytest.approx(
        distill_kl(s, t, 2.0, mask).item(), rel=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        distill_kl(s, t, 0.0)


def test_hidden_distill_closed_forms():
    t = torch.randn(2, 4, 6)
    assert hidden_distill(t.clone(), t).item() == pytest.approx(0.0, abs=1e-6)
    assert hidden_distill(2 * t, t).item() == pytest.approx(1.0, rel=1e-5)     # cos 1, mse 1
    assert hidden_distill(-t, t).item() == pytest.approx(2.0 + 4.0, rel=1e-5)  # cos -1, mse 4
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    s = t.clone()
    s[0, 3] = 100.0  # a padded position does not count
    assert hidden_distill(s, t, mask).item() == pytest.approx(0.0, abs=1e-6)


# ------------------------------------------------------------------------------- the loop

def test_steps_are_reproducible_with_dropout():
    cfg = TrainConfig(steps=4, lr=1e-2, batch_size=4, device="cpu")
    a, b = tiny_lm(dropout=0.5), tiny_lm(dropout=0.5)
    torch.manual_seed(1)
    ra = train(a, token_ids(), _lm, cfg, progress=False)
    torch.manual_seed(2)  # the global RNG before the run does not matter
    rb = train(b, token_ids(), _lm, cfg, progress=False)
    assert same_weights(a, b) and ra.curve[-1]["loss"] == rb.curve[-1]["loss"]
    c = tiny_lm(dropout=0.5)
    train(c, token_ids(), _lm, TrainConfig(steps=4, lr=1e-2, batch_size=4, device="cpu",
                                           seed=1), progress=False)
    assert not same_weights(a, c)


def test_param_groups_and_before_step():
    m = tiny_lm()
    emb0, fc10 = m.emb.weight.detach().clone(), m.fc1.weight.detach().clone()
    seen = []
    groups = [dict(params=[m.emb.weight], lr=0.0),
              dict(params=[p for n, p in m.named_parameters() if not n.startswith("emb")])]
    res = train(m, token_ids(), _lm, TrainConfig(steps=3, lr=1e-2, batch_size=4, device="cpu"),
                params=groups, progress=False, before_step=seen.append)
    assert seen == [0, 1, 2] and res.curve[0]["lr"] == 0.0
    assert torch.equal(m.emb.weight, emb0) and not torch.equal(m.fc1.weight, fc10)


def test_non_finite_loss_names_the_step():
    def loss_fn(model, batch, step):
        loss = _lm(model, batch, step)
        return loss * float("nan") if step == 2 else loss
    with pytest.raises(FloatingPointError, match="step 2"):
        train(tiny_lm(), token_ids(), loss_fn, TrainConfig(steps=5, batch_size=4, device="cpu"),
              progress=False)
    with pytest.raises(TypeError, match="scalar"):
        train(TinyLM(), token_ids(), lambda m, b, s: m(b), TrainConfig(steps=1, batch_size=4),
              progress=False)
