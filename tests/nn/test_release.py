"""Letting the digital weights go once programmed (``tp.program(model, release_weights=True)``):
the level codes rebuild the cells bit for bit, outputs do not change at any age, the store holds
~5 bytes per weight, the copies are really freed, and what a released layer cannot do fails
with a clear error."""
import copy
import dataclasses
import gc
import weakref

import pytest
import torch
import torch.nn as nn

import torch_photonic as tp
from torch_photonic.optics import cell_codes, kernels
from torch_photonic.optics.store import store

GLASS = "glass-pcm-200mm"
PRESETS = ["glass-pcm-200mm", "pcm-tensor-core-2021", "silicon-photonic-128"]


def _single_cell(cfg):
    return dataclasses.replace(cfg, array=dataclasses.replace(cfg.array, cells_per_weight=1))


def _weight(seed=0):
    torch.manual_seed(seed)
    w = torch.randn(70, 300)
    w[3] = 0.0                   # an all-zero row: zero blocks
    w[5, :40] = -1e-5            # negative weights on level 0 (a signed reset cell)
    w[6, 10] = 50.0              # one large weight: most of its block on low levels
    return w


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("pair", [True, False])
@pytest.mark.parametrize("backend", ["cpp", "torch"])
def test_codes_rebuild_the_programmed_cells_bit_for_bit(name, pair, backend, monkeypatch):
    monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", backend)
    cfg = tp.preset(name) if pair else _single_cell(tp.preset(name))
    w = _weight()
    st = kernels.program(w, cfg, 1234)
    codes = cell_codes.encode(w, cfg)
    assert codes.dtype == torch.uint8 and codes.shape == w.shape
    rebuilt = cell_codes.program_codes(codes, st.scales, cfg, 1234)
    assert cell_codes.same_bits(rebuilt, st.weff)          # signed zeros included
    if pair:
        assert torch.signbit(st.weff[5, :40]).all()        # the signed reset cells exist
    other = cell_codes.program_codes(codes, st.scales, cfg, 99)
    assert not torch.equal(other, st.weff)                 # the seed draws the noise


def test_configs_without_levels_have_no_codes():
    cfg = tp.preset("ideal")
    assert not cell_codes.supported(cfg)
    assert cell_codes.encode(_weight(), cfg) is None
    many = tp.preset(GLASS)
    many = dataclasses.replace(many, pcm=dataclasses.replace(many.pcm, levels=200))
    assert not cell_codes.supported(many)                  # 200 levels and a sign: 9 bits
    assert cell_codes.supported(_single_cell(many))


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(96, 200), nn.GELU(), nn.Linear(200, 48)).eval()


def _runs(model, x, ages=(0.0, 3600.0, 60.0, 0.0)):
    out = []
    with torch.no_grad():
        for s in ages:
            tp.age(model, s)
            out.append(model(x))
    return out


@pytest.mark.parametrize("preset", [GLASS, "ideal"])
def test_released_layers_give_the_same_outputs_at_every_age(preset):
    x = torch.randn(6, 96)
    kept = tp.program(tp.convert(_mlp(), preset))
    ref = _runs(kept, x)
    store.clear()
    released = tp.program(tp.convert(_mlp(), preset), release_weights=True)
    assert all(m.weight.is_meta for m in released if isinstance(m, tp.PhotonicLinear))
    got = _runs(released, x)
    for a, b in zip(ref, got):
        assert torch.equal(a, b)


def test_released_experts_give_the_same_outputs():
    from torch_photonic import models as M
    cfg = M.tiny_deepseek_config(num_hidden_layers=2)
    ids = M.random_prompt(cfg, 6, seed=0)
    outs = []
    for release in (False, True):
        store.clear()
        model = tp.convert(M.build_deepseek(cfg, seed=0), GLASS).eval()
        tp.program(model, release_weights=release)
        experts = [m for m in model.modules() if isinstance(m, tp.PhotonicExperts)]
        assert experts and all(m.released == release for m in experts)
        outs.append(_runs(model, ids, ages=(0.0, 86400.0)))
    for a, b in zip(*outs):
        assert torch.equal(a.logits, b.logits)


def test_the_digital_copies_are_freed_and_the_store_holds_five_bytes_per_weight():
    model = tp.convert(_mlp(), GLASS)
    old = weakref.ref(model[0].weight)
    n = sum(m.weight.numel() for m in model if isinstance(m, tp.PhotonicLinear))
    tp.program(model, release_weights=True)
    gc.collect()
    assert old() is None                                   # nothing else holds the copy
    states = [s for m in model if isinstance(m, tp.PhotonicLinear)
              for s in store.states(m.weight).values()]
    held = sum(s.nbytes for s in states)
    assert held / n <= 5.1                                 # float32 cells + 1-byte codes
    assert all(s._codes is not None and s._source is None and s._cm is None for s in states)
    _runs(model, torch.randn(3, 96), ages=(3600.0,))       # aged: the aged cells replace t0
    assert sum(s.nbytes for s in states) / n <= 5.1
    assert all(s.weff is None for s in states)


def test_without_release_the_store_holds_the_source_and_a_common_mode_copy():
    model = tp.convert(_mlp(), GLASS)
    _runs(model, torch.randn(3, 96), ages=(0.0,))
    st = next(iter(store.states(model[0].weight).values()))
    assert st._source is not None and st._cm is not None and not st.compact


def test_a_released_layer_refuses_gradients_and_reprogramming():
    model = tp.program(tp.convert(_mlp(), GLASS), release_weights=True)
    x = torch.randn(2, 96, requires_grad=True)
    with pytest.raises(RuntimeError, match="let its digital weights go"):
        model(x)
    model.train()
    with pytest.raises(RuntimeError, match="runs inference only"):
        model(torch.randn(2, 96))
    model.eval()
    with torch.no_grad():
        model(x)                                           # inference is fine
    layer = model[0]
    layer.reconfigure("pcm-tensor-core-2021")
    with pytest.raises(ValueError, match="cannot be programmed"):
        with torch.no_grad():
            layer(torch.randn(2, 96))
    with pytest.raises(TypeError, match="release_weights"):
        tp.program(model, release_weights="yes")


def test_tied_weights_stay():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 32)
            self.head = nn.Linear(32, 10, bias=False)
            self.head.weight = self.emb.weight
            self.body = nn.Linear(32, 32)

        def forward(self, ids):
            return self.head(self.body(self.emb(ids)))

    model = tp.convert(Tied(), GLASS).eval()
    tp.program(model, release_weights=True)
    assert not model.head.weight.is_meta and model.head.weight is model.emb.weight
    assert model.body.weight.is_meta
    with torch.no_grad():
        assert model(torch.tensor([[1, 2, 3]])).shape == (1, 3, 10)


def test_a_released_model_saves_and_loads_bit_identically(tmp_path):
    x = torch.randn(4, 96)
    a = tp.program(tp.convert(_mlp(), GLASS), release_weights=True)
    _runs(a, x, ages=(0.0, 3600.0))
    f = tmp_path / "released.pt"
    tp.save_programmed(a, str(f))
    saved = torch.load(str(f), weights_only=True)
    assert "0.weight" not in saved["state_dict"] and saved["released"] == ["0.weight", "2.weight"]
    assert saved["cells"]["0.weight"]["matrices"][0]["codes"].dtype == torch.uint8
    with torch.no_grad():
        ya = a(x)
    b = tp.convert(_mlp(seed=5), GLASS).eval()
    tp.load_programmed(b, str(f))
    assert b[0].weight.is_meta and b[2].weight.is_meta
    with torch.no_grad():
        assert torch.equal(b(x), ya)
    st = next(iter(store.states(b[0].weight).values()))
    assert st._codes is not None and st.compact


def test_nan_rows_of_a_released_layer_follow_the_float_product_of_its_cells():
    model = tp.program(tp.convert(_mlp(), GLASS), release_weights=True)
    x = torch.randn(3, 96)
    x[1, 4] = float("nan")
    with torch.no_grad(), pytest.warns(RuntimeWarning, match="NaN or Inf"):
        y = model[0](x)
    assert torch.isnan(y[1]).all() and torch.isfinite(y[0]).all()


def test_codes_that_do_not_rebuild_the_cells_are_dropped():
    cfg = tp.preset(GLASS)
    w = _weight()
    st = kernels.program(w, cfg, 7)
    t0 = st.weff.clone()
    assert kernels.compact(st, check=False)
    st._codes[0, 0] ^= 1                                   # one wrong level
    assert not kernels.check_codes(st)
    assert st._codes is None and cell_codes.same_bits(st.weff, t0)
    st.weight_at(3600.0)
    assert st.weff is not None                             # no codes: t0 stays next to the aged
    good = kernels.program(w, cfg, 7)
    assert kernels.compact(good)
    good.weight_at(3600.0)
    assert good.weff is None and cell_codes.same_bits(good.base_weight(), t0)


def test_a_released_model_moves_and_casts_like_any_module():
    x = torch.randn(3, 96)
    model = tp.program(tp.convert(_mlp(), GLASS), release_weights=True)
    twin = tp.program(tp.convert(_mlp(), GLASS), release_weights=True)  # same names and seeds
    placeholder = model[0].weight
    model.to("cpu")                                        # a move: the cells stay
    assert model[0].weight is placeholder and placeholder.is_meta
    with torch.no_grad():
        y = model(x)
        assert torch.equal(y, twin(x))
    model.to(torch.float64)                                # a cast: the placeholder follows
    assert model[0].weight is placeholder and placeholder.dtype == torch.float64
    assert model[0].bias.dtype == torch.float64
    with torch.no_grad():
        y64 = model(x.double())
    assert y64.dtype == torch.float64 and y64.shape == y.shape
    assert [n for n, _ in model[0].named_parameters()] == ["weight", "bias"]


@pytest.mark.parametrize("backend", ["cpp", "torch"])
def test_program_writes_a_block_of_rows_as_the_whole_matrix_does(backend, monkeypatch):
    monkeypatch.setenv("TORCH_PHOTONIC_BACKEND", backend)
    cfg = tp.preset(GLASS)
    f, a, p = cfg.formats, cfg.array, cfg.pcm
    w = _weight()
    ops = kernels.ops_for(w.device)
    args = (f.weight_format, f.weight_scaling, f.scale_rule, p.levels, a.cells_per_weight,
            p.quantize_levels, list(p.program_noise_coeffs), a.tile_rows, 5)
    whole, scales = ops.program(w, *args)
    part, part_scales = ops.program(w[20:45], *args, 20)
    assert cell_codes.same_bits(part, whole[20:45]) and torch.equal(part_scales, scales[20:45])
    assert not torch.equal(ops.program(w[20:45], *args)[0], part)   # row 0's noise differs
    with pytest.raises(RuntimeError, match="first_row must be >= 0"):
        ops.program(w, *args, -1)


def test_codes_rebuild_and_check_a_block_of_rows_at_a_time(monkeypatch):
    monkeypatch.setattr(cell_codes, "_ROWS_ELEMENTS", 1000)    # 3 rows of 300 per block
    cfg = tp.preset(GLASS)
    w = _weight()
    st = kernels.program(w, cfg, 11)
    codes = cell_codes.encode(w, cfg)
    assert cell_codes.same_bits(cell_codes.program_codes(codes, st.scales, cfg, 11), st.weff)
    assert cell_codes.rebuilds(codes, st.scales, cfg, 11, st.weff)
    bad = codes.clone()
    bad[-1, -1] ^= 1                                        # the last block only
    assert not cell_codes.rebuilds(bad, st.scales, cfg, 11, st.weff)
