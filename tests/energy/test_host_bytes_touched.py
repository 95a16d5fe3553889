"""The host fallback charges each op for the bytes it touches (csrc/aten/native/touched_bytes.h).

Gather ops read from their source one element per output element, not the whole source, and
their indices in full; ops that only return views of their arguments touch nothing; every
other op reads its inputs in full (an ``out=`` argument is only written) and writes its
results. Counts are checked exactly, by hand, through ``torch.photonic.count_host_ops``.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import torch_photonic as tp

DEV = "photonic"
F32 = 4
I64 = 8
GLASS = "glass-pcm-200mm"


def _only(stats, op):
    assert set(stats) == {op}, stats
    s = stats[op]
    assert s["calls"] == 1, s
    return s


def _idx(values):
    return torch.tensor(values, dtype=torch.long).to(DEV)


# ---- gather ops --------------------------------------------------------------------------------
def test_embedding_reads_the_rows_it_looks_up():
    table = torch.randn(1000, 64).to(DEV)
    idx = _idx([3, 999, 0, 17, 3])
    with torch.photonic.count_host_ops() as stats:
        y = F.embedding(idx, table)
    # F.embedding decomposes before dispatch: the device runs aten::index_select
    s = _only(stats, "aten::index_select")
    assert s["bytes_in"] == 5 * 64 * F32 + 5 * I64
    assert s["bytes_out"] == 5 * 64 * F32
    assert s["elements_out"] == 5 * 64
    torch.testing.assert_close(y.cpu(), F.embedding(idx.cpu(), table.cpu()))


def test_embedding_module_counts_the_same():
    emb = torch.nn.Embedding(1000, 64).to(DEV)
    idx = _idx([1, 2, 3, 4, 5])
    with torch.no_grad(), torch.photonic.count_host_ops() as stats:
        emb(idx)
    s = _only(stats, "aten::index_select")
    assert (s["bytes_in"], s["bytes_out"]) == (5 * 64 * F32 + 5 * I64, 5 * 64 * F32)


def test_gathered_bytes_use_the_source_element_size():
    table = torch.randn(1000, 64).to(torch.bfloat16).to(DEV)
    idx = _idx([7, 8, 9])
    with torch.photonic.count_host_ops() as stats:
        F.embedding(idx, table)
    s = _only(stats, "aten::index_select")
    assert s["bytes_in"] == 3 * 64 * 2 + 3 * I64
    assert s["bytes_out"] == 3 * 64 * 2


def test_index_select_rows():
    x = torch.randn(50, 9).to(DEV)
    idx = _idx([0, 49, 12, 12])
    with torch.photonic.count_host_ops() as stats:
        y = x.index_select(0, idx)
    s = _only(stats, "aten::index_select")
    assert s["elements_out"] == 4 * 9
    assert s["bytes_in"] == 4 * 9 * F32 + 4 * I64
    assert s["bytes_out"] == 4 * 9 * F32
    torch.testing.assert_close(y.cpu(), x.cpu().index_select(0, idx.cpu()))


def test_index_select_columns():
    x = torch.randn(7, 300).to(DEV)
    idx = _idx([299, 0, 5, 150])
    with torch.photonic.count_host_ops() as stats:
        y = x.index_select(1, idx)
    s = _only(stats, "aten::index_select")
    assert s["elements_out"] == 7 * 4
    assert s["bytes_in"] == 7 * 4 * F32 + 4 * I64
    assert s["bytes_out"] == 7 * 4 * F32
    torch.testing.assert_close(y.cpu(), x.cpu().index_select(1, idx.cpu()))


def test_index_select_out_argument_is_written_not_read():
    x = torch.randn(50, 9).to(DEV)
    idx = _idx([4, 5])
    out = torch.empty(2, 9).to(DEV)
    with torch.photonic.count_host_ops() as stats:
        torch.index_select(x, 0, idx, out=out)
    s = _only(stats, "aten::index_select.out")
    assert s["bytes_in"] == 2 * 9 * F32 + 2 * I64
    assert s["bytes_out"] == 2 * 9 * F32


def test_gather_along_a_dim():
    x = torch.randn(6, 40).to(DEV)
    index = torch.randint(0, 40, (6, 3)).to(DEV)
    with torch.photonic.count_host_ops() as stats:
        y = x.gather(1, index)
    s = _only(stats, "aten::gather")
    assert s["elements_out"] == 6 * 3
    assert s["bytes_in"] == 6 * 3 * F32 + 6 * 3 * I64
    assert s["bytes_out"] == 6 * 3 * F32
    torch.testing.assert_close(y.cpu(), x.cpu().gather(1, index.cpu()))


def test_take():
    x = torch.randn(30, 30).to(DEV)
    idx = _idx([0, 899, 450])
    with torch.photonic.count_host_ops() as stats:
        x.take(idx)
    s = _only(stats, "aten::take")
    assert (s["bytes_in"], s["bytes_out"]) == (3 * F32 + 3 * I64, 3 * F32)


def test_advanced_indexing_with_device_indices():
    table = torch.randn(1000, 64).to(DEV)
    idx = _idx([1, 5, 7, 9, 11])
    with torch.photonic.count_host_ops() as stats:
        y = table[idx]
    # the functional aten::index allocates its output on the device and calls the .out overload
    s = _only(stats, "aten::index.Tensor_out")
    assert s["bytes_in"] == 5 * 64 * F32 + 5 * I64
    assert s["bytes_out"] == 5 * 64 * F32
    torch.testing.assert_close(y.cpu(), table.cpu()[idx.cpu()])


def test_advanced_indexing_counts_host_indices_the_host_reads():
    table = torch.randn(1000, 64).to(DEV)
    idx = torch.tensor([1, 5, 7, 9, 11])
    with torch.photonic.count_host_ops() as stats:
        table[idx]
    s = _only(stats, "aten::index.Tensor_out")
    assert s["bytes_in"] == 5 * 64 * F32 + 5 * I64
    assert s["bytes_out"] == 5 * 64 * F32


def test_advanced_indexing_on_an_inner_dim():
    x = torch.randn(8, 100, 3).to(DEV)
    idx = _idx([2, 4])
    with torch.photonic.count_host_ops() as stats:
        x[:, idx]
    s = _only(stats, "aten::index.Tensor_out")
    assert s["elements_out"] == 8 * 2 * 3
    assert s["bytes_in"] == 8 * 2 * 3 * F32 + 2 * I64
    assert s["bytes_out"] == 8 * 2 * 3 * F32


def test_table_size_does_not_change_the_count():
    idx = _idx([3, 1, 4, 1, 5, 9])
    counts = []
    for rows in (1000, 100000):
        table = torch.randn(rows, 64).to(DEV)
        with torch.photonic.count_host_ops() as stats:
            F.embedding(idx, table)
        counts.append(_only(stats, "aten::index_select"))
    assert counts[0] == counts[1]


# ---- everything else: inputs read in full, results written -------------------------------------
def test_cat_reads_every_input_and_writes_the_sum():
    a, b, c = (torch.randn(n, 16).to(DEV) for n in (3, 5, 7))
    with torch.photonic.count_host_ops() as stats:
        y = torch.cat([a, b, c])
    # the functional cat allocates its output on the device and calls cat.out: that output is
    # written, not read
    s = _only(stats, "aten::cat.out")
    assert s["bytes_in"] == (3 + 5 + 7) * 16 * F32
    assert s["bytes_out"] == (3 + 5 + 7) * 16 * F32
    assert s["elements_out"] == (3 + 5 + 7) * 16
    assert y.shape == (15, 16)


def test_softmax_reads_and_writes_every_element():
    x = torch.randn(12, 33).to(DEV)
    with torch.photonic.count_host_ops() as stats:
        x.softmax(-1)
    s = _only(stats, "aten::_softmax")
    assert s["bytes_in"] == 12 * 33 * F32
    assert s["bytes_out"] == 12 * 33 * F32
    assert s["elements_out"] == 12 * 33


def test_in_place_op_reads_its_target():
    x, y = torch.randn(4, 5).to(DEV), torch.randn(4, 5).to(DEV)
    with torch.photonic.count_host_ops() as stats:
        x.add_(y)
    # add_ runs as add.out with out=self: self and other are read, self is written
    s = _only(stats, "aten::add.out")
    assert s["bytes_in"] == 2 * 20 * F32
    assert s["bytes_out"] == 20 * F32


# ---- views --------------------------------------------------------------------------------------
# Every aten view op has a photonic kernel (or decomposes into one), so none reaches the
# fallback; ops of a test library without a photonic kernel do.
@pytest.fixture(scope="module")
def view_ops():
    lib = torch.library.Library("photonic_touched_bytes_test", "DEF")
    lib.define("rows_view(Tensor(a) self) -> Tensor(a)")
    lib.define("maybe_view(Tensor(a) self, bool copy) -> Tensor(a)")
    lib.define("halves(Tensor(a -> *) self) -> Tensor(a)[]")
    lib.impl("rows_view", lambda t: t[1:], "CPU")
    lib.impl("maybe_view", lambda t, copy: t.clone() if copy else t[1:], "CPU")
    lib.impl("halves", lambda t: list(t.chunk(2)), "CPU")
    yield torch.ops.photonic_touched_bytes_test
    lib._destroy()


def test_view_touches_nothing(view_ops):
    x = torch.randn(10, 8).to(DEV)
    with torch.photonic.count_host_ops() as stats:
        v = view_ops.rows_view(x)
    s = _only(stats, "photonic_touched_bytes_test::rows_view")
    assert (s["bytes_in"], s["bytes_out"], s["elements_out"]) == (0, 0, 0)
    assert v.device.type == DEV and v.shape == (9, 8)
    x[1, 0] = 5.0
    assert v[0, 0].item() == 5.0  # a view of x's storage


def test_list_of_views_touches_nothing(view_ops):
    x = torch.randn(10, 8).to(DEV)
    with torch.photonic.count_host_ops() as stats:
        halves = view_ops.halves(x)
    s = _only(stats, "photonic_touched_bytes_test::halves")
    assert (s["bytes_in"], s["bytes_out"], s["elements_out"]) == (0, 0, 0)
    assert [h.shape for h in halves] == [(5, 8), (5, 8)]


def test_may_alias_op_that_copies_is_charged_as_a_copy(view_ops):
    x = torch.randn(10, 8).to(DEV)
    with torch.photonic.count_host_ops() as stats:
        view_ops.maybe_view(x, True)
    s = _only(stats, "photonic_touched_bytes_test::maybe_view")
    assert (s["bytes_in"], s["bytes_out"], s["elements_out"]) == (80 * F32, 80 * F32, 80)
    with torch.photonic.count_host_ops() as stats:
        view_ops.maybe_view(x, False)
    s = _only(stats, "photonic_touched_bytes_test::maybe_view")
    assert (s["bytes_in"], s["bytes_out"], s["elements_out"]) == (0, 0, 0)


# ---- host energy of a lookup -------------------------------------------------------------------
def _lookup_host_joules(table, n_rows):
    idx = _idx(list(range(0, 2 * n_rows, 2)))
    with tp.meter(config=GLASS) as m:
        F.embedding(idx, table)
    return m.breakdown()["host"]


def _expected_lookup_joules(n_rows, hidden):
    # counts: bytes_in = rows x hidden x 4 + rows x 8 (indices), bytes_out = rows x hidden x 4,
    # elements_out = rows x hidden; the meter: flops = max(elements_out, bytes_in // 4),
    # bytes = bytes_in + bytes_out
    host = tp.resolve(GLASS).host
    bytes_in = n_rows * hidden * F32 + n_rows * I64
    bytes_out = n_rows * hidden * F32
    flops = max(n_rows * hidden, bytes_in // 4)
    assert flops == n_rows * (hidden + 2)
    return flops * host.energy_per_flop_j + (bytes_in + bytes_out) * host.energy_per_byte_j


def test_lookup_energy_is_proportional_to_rows_read():
    table = torch.randn(1000, 64).to(DEV)
    j10 = _lookup_host_joules(table, 10)
    j20 = _lookup_host_joules(table, 20)
    assert j10 == pytest.approx(_expected_lookup_joules(10, 64), rel=1e-12)
    assert j20 == pytest.approx(_expected_lookup_joules(20, 64), rel=1e-12)
    # every term is linear in the rows read: twice the rows, twice the joules
    assert j20 == pytest.approx(2 * j10, rel=1e-12)


def test_lookup_energy_does_not_depend_on_table_size():
    small = torch.randn(1000, 64).to(DEV)
    large = torch.randn(100000, 64).to(DEV)
    assert _lookup_host_joules(small, 10) == pytest.approx(_lookup_host_joules(large, 10), rel=1e-12)
    assert _lookup_host_joules(large, 10) == pytest.approx(_expected_lookup_joules(10, 64), rel=1e-12)
