"""The DeepSeek acceptance run (``torch-photonic run``): the trained tiny DeepSeek-V3 is the
default; on the ideal preset every path matches full precision (tokens, held-out perplexity,
top-1 agreement, routed experts); on glass the routers pick other experts for some tokens."""
import json

import pytest

pytest.importorskip("transformers", reason="the DeepSeek builders use transformers' DeepseekV3 "
                    "classes (pip install 'torch_photonic[models]')")

from torch_photonic.device.module import get_config  # noqa: E402
from torch_photonic.eval.acceptance import format_run, run_deepseek  # noqa: E402
from torch_photonic.models import count_parameters, load_deepseek_tiny  # noqa: E402
from torch_photonic.models.deepseek_tiny import deepseek_tiny_metrics  # noqa: E402

MOE_LAYERS = ["model.layers.1.mlp.gate", "model.layers.2.mlp.gate", "model.layers.3.mlp.gate"]


def _hamlet_512_perplexity() -> float:
    """training.json's perplexity on the first 512 tokens of Hamlet."""
    held = deepseek_tiny_metrics()["held_out"]
    return next(v["perplexity"] for k, v in held.items()
                if k.startswith("hamlet") and v["tokens"] == 512)


def test_trained_model_is_default_and_ideal_matches_full_precision(tmp_path):
    before = get_config()
    report = tmp_path / "meter.json"
    out = run_deepseek(preset="ideal", tokens=3, progress=False, strict=True,
                       report_json=str(report), news_sentences=2, finetune_steps=1,
                       finetune_seq_len=16, finetune_batch_size=2)
    assert get_config() is before  # the photonic path restores the device config
    tok, model = load_deepseek_tiny()
    assert out["model"] == "deepseek-tiny" and out["trained"]
    assert out["params"] == count_parameters(model)
    assert set(out["results"]) == {"cpu", "convert", "photonic", "finetuned"}
    cpu = out["results"]["cpu"]
    # full precision, scored as training.json scores its held-out slice
    assert out["heldout"]["hamlet_tokens"] == 512
    assert cpu["heldout"]["hamlet_perplexity"] == pytest.approx(_hamlet_512_perplexity(),
                                                                rel=1e-4)
    assert cpu["text"] == tok.decode(cpu["tokens"]) and out["heldout"]["prompt_text"]
    for path in ("convert", "photonic"):
        r = out["results"][path]
        assert r["tokens"] == cpu["tokens"] and r["top1_agreement"] == 1.0, path
        assert r["joules_per_token"] > 0 and r["chips_needed"] >= 1
        assert sum(r["tokens_per_expert"]) > 0
        cv = r["converters"]  # ideal: nothing clips, every layer read
        assert cv["output_clip_rate"] == 0 and cv["retries"] == 0 and cv["worst_layer"]
        h = r["heldout"]
        assert h["top1_agreement"] == 1.0, path
        assert h["hamlet_perplexity"] == pytest.approx(cpu["heldout"]["hamlet_perplexity"],
                                                       rel=1e-6)
        assert h["news_perplexity"] == pytest.approx(cpu["heldout"]["news_perplexity"], rel=1e-6)
        assert h["routing_flips"] == {k: 0.0 for k in MOE_LAYERS}, path
        assert r["text"] == cpu["text"]
    ft = out["results"]["finetuned"]
    assert ft["finetune"]["steps"] == 1 and ft["finetune"]["seconds"] > 0
    assert ft["finetune"]["seconds_total"] >= ft["finetune"]["seconds"]
    assert ft["finetune"]["preset"] == "ideal" and ft["joules_per_token"] > 0
    assert set(ft["heldout"]["routing_flips"]) == set(MOE_LAYERS)
    assert out["target"]["threshold"] == 0.9
    assert out["target"]["value"] == ft["heldout"]["top1_agreement"]
    rep = out["results"]["convert"]["convert_report"]
    assert rep["params_optical"] > 0 and "lm_head" in rep["excluded"] and rep["summary"]
    assert out["plan"]["chips_needed"] >= 1
    assert "modes" in json.loads(report.read_text())
    text = format_run(out)
    for needle in ("[ convert]", "[photonic]", "[finetuned]", "Hamlet ppl", "routing flips",
                   "target:", "1 steps of 2 x 16"):
        assert needle in text, needle
    assert "not run" not in text
    json.dumps(out, default=str)


def test_glass_flips_routing_and_finetune_steps_zero_leaves_the_path_out():
    out = run_deepseek(preset="glass-pcm-200mm", tokens=1, progress=False, strict=True,
                       heldout_tokens=64, news_sentences=1, finetune_steps=0)
    assert set(out["results"]) == {"cpu", "convert", "photonic"} and "target" not in out
    fp = out["results"]["cpu"]["heldout"]
    for path in ("convert", "photonic"):
        h = out["results"][path]["heldout"]
        assert set(h["routing_flips"]) == set(MOE_LAYERS)
        assert all(0 <= v <= 1 for v in h["routing_flips"].values())
        assert max(h["routing_flips"].values()) > 0, path  # noise moves some tokens' experts
        assert 0 < h["top1_agreement"] <= 1 and h["logits_cosine"] < 1
        assert h["hamlet_perplexity"] != fp["hamlet_perplexity"]


def test_random_model_keeps_shape_and_energy_paths():
    out = run_deepseek(model="deepseek-tiny-random", preset="ideal", tokens=2, progress=False,
                       strict=True)
    assert not out["trained"] and "heldout" not in out
    assert set(out["results"]) == {"cpu", "convert", "photonic"}
    assert out["results"]["convert"]["tokens"] == out["results"]["cpu"]["tokens"]
    assert "random weights" in format_run(out)


def test_failing_path_is_recorded_unless_strict(monkeypatch):
    import torch_photonic.eval.acceptance as acc

    def boom(model, cfg):
        raise RuntimeError("convert failed")
    monkeypatch.setattr(acc, "convert", boom)
    kw = dict(preset="ideal", tokens=1, paths=["cpu", "convert"], progress=False,
              heldout_tokens=16, news_sentences=1)
    out = run_deepseek(**kw)
    assert "convert failed" in out["results"]["convert"]["error"]
    assert "not run: RuntimeError: convert failed" in format_run(out)
    with pytest.raises(RuntimeError, match="convert failed"):
        run_deepseek(strict=True, **kw)


def test_bad_arguments():
    with pytest.raises(ValueError):
        run_deepseek(tokens=0)
    with pytest.raises(ValueError):
        run_deepseek(paths=["cpu", "gpu"], tokens=1)
    with pytest.raises(ValueError, match="finetune_steps"):
        run_deepseek(finetune_steps=-1)
    with pytest.raises(ValueError, match="trained weights"):
        run_deepseek(model="deepseek-tiny-random", paths=["cpu", "finetuned"])
