"""The digital baselines: symmetric RTN per output channel (weights) and per token (activations),
checked element by element against an independent integer reference."""
import pytest
import torch
from torch import nn

from torch_photonic.eval.digital import rtn, rtn_transform


def _reference(x, bits):
    q = 2 ** (bits - 1) - 1
    out = torch.empty_like(x)
    for i, row in enumerate(x):
        m = max(abs(float(v)) for v in row)
        s = m / q if m else 1.0
        out[i] = torch.tensor([max(-q, min(q, round(float(v) / s))) * s if m else float(v)
                               for v in row])
    return out


@pytest.mark.parametrize("bits", [4, 8])
def test_rtn_matches_the_integer_reference(bits):
    torch.manual_seed(bits)
    x = torch.randn(16, 40) * torch.logspace(-3, 2, 16).unsqueeze(1)
    x[3] = 0.0
    got = rtn(x, bits)
    torch.testing.assert_close(got, _reference(x, bits), rtol=1e-6, atol=0)
    q = 2 ** (bits - 1) - 1
    codes = got / (x.abs().amax(1, keepdim=True) / q).clamp_min(1e-30)
    assert torch.allclose(codes, codes.round(), atol=1e-3)  # on the integer grid
    assert codes.abs().max() <= q + 1e-3


def test_w4a8_quantizes_weights_per_channel_and_activations_per_token():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 8))
    ref = model[0].weight.detach().clone()
    t = rtn_transform(4, 8)
    out = t(model)
    torch.testing.assert_close(out[0].weight.detach(), rtn(ref, 4))
    x = torch.randn(5, 32)
    want = rtn(x, 8) @ rtn(ref, 4).t() + model[0].bias
    torch.testing.assert_close(out(x), want, rtol=1e-5, atol=1e-5)


def test_bad_bits_are_named():
    with pytest.raises(ValueError, match="bits"):
        rtn_transform(1, 8)


def test_calibration_text_is_not_the_evaluation_text():
    from torch_photonic.eval.data import CALIBRATION_PLAY, SLICE_PLAY, calibration_sentences, sentences
    held_out = set(sentences(200))
    cal = calibration_sentences(32, held_out=200)
    assert len(cal) == 32 and not held_out & set(cal)
    assert CALIBRATION_PLAY != SLICE_PLAY
