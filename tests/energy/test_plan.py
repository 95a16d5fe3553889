"""Capacity planning on small models and on the 671B DeepSeek-V3 shapes (meta device)."""
import math
import resource

import pytest
import torch
import torch.nn as nn

import torch_photonic as tp
from torch_photonic.models import deepseek_shapes as D
from torch_photonic.energy import events


def test_plan_small_model_by_hand():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(1000, 300), nn.ReLU(), nn.Linear(300, 10),
                              nn.LayerNorm(10), nn.Embedding(50, 10))
    cfg = tp.preset("silicon-photonic-128")
    p = tp.plan(model, cfg, chips=1, gpu=None)
    weights = 1000 * 300 + 300 * 10          # embeddings and norms stay electronic
    assert p["weights"] == weights
    assert p["cells_needed"] == 2 * weights
    assert p["tiles_needed"] == math.ceil(1000 / 128) * math.ceil(300 / 128) + math.ceil(300 / 128) * 1
    assert p["chips_needed"] == max(math.ceil(2 * weights / 32768), p["tiles_needed"])
    assert not p["fits"]
    assert p["area_mm2_needed"] == p["chips_needed"] * 100.0
    # one tile per chip: tiles run out before cells, so 26 of the 27 tiles are rewritten
    overflow = max(1 - 32768 / (2 * weights), 1 - 1 / p["tiles_needed"])
    assert overflow == 1 - 1 / 27
    assert p["rewrite_cells_per_token"] == pytest.approx(2 * weights * overflow)
    big = tp.plan(model, "silicon-photonic-128", chips=p["chips_needed"], gpu=None)
    assert big["fits"] and big["rewrite_cells_per_token"] == 0


def test_plan_671b_meta_model_no_real_memory():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = D.build_meta_model()
    assert all(p.is_meta for p in model.parameters())
    n = sum(p.numel() for p in model.parameters())
    assert n == pytest.approx(671e9, rel=0.002)
    p = tp.plan(model, "glass-pcm-200mm", chips=1, gpu=None)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert (after - before) * 1024 < 1.5e9          # KiB -> bytes; weights would be 1.3 TB
    counts = D.param_counts(model.config)
    assert p["weights"] == counts["optical"]        # analytic == module walk
    assert p["cells_needed"] == 2 * counts["optical"]
    assert p["chips_needed"] > 2000 and not p["fits"]
    # active: 37B per token (DeepSeek-V3 report), optical part excludes embedding and router
    assert counts["active_total"] == pytest.approx(37e9, rel=0.03)
    assert p["active_weights_per_token"] == pytest.approx(counts["active_optical"], rel=1e-9)
    assert p["rewrites_per_token"] > 100
    assert p["wear_hours"] > 0


def test_deepseek_work_counts():
    c = D.v3_config()
    dec = D.decode_work(c, context=1024)
    assert dec["static_macs"] == D.param_counts(c)["active_optical"]
    lat, heads = c.kv_lora_rank + c.qk_rope_head_dim, c.num_attention_heads
    assert dec["dynamic_macs"] == c.num_hidden_layers * heads * 1025 * (lat + c.kv_lora_rank)
    assert dec["kv"]["bytes_read"] == c.num_hidden_layers * 1024 * lat * 2
    pre = D.prefill_work(c, tokens=64)
    # 64 tokens x top-8 = 512 expert slots > 256 experts: every expert used, 2 rows each
    ex = [x for x in pre["mvms"] if x["op"] == "expert"]
    assert len({(x["module"], x["expert"]) for x in ex}) == 2 * 58 * 256
    assert {x["m"] for x in ex} == {2}
    cfg = tp.preset("glass-pcm-200mm")
    with tp.meter() as m:
        D.emit(dec, cfg)
    assert m.macs == dec["macs"]
    assert m.breakdown()["kv"] > 0 and m.breakdown()["host"] > 0
