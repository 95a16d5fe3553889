"""PyTorch's own operator database (``op_db``) as a peer suite for the photonic device.

For every OpInfo with float32 samples on the CPU, three checks run with the device's matrix
products in exact mode (``PHOTONIC_OPDB_CONFIG=exact``, the default) or on the optical path with a
noise-free preset (``PHOTONIC_OPDB_CONFIG=ideal``: every product goes through the optical kernel,
the one store of programmed weights and the meter; the kernel accumulates tile by tile, so float32
rounding differs from the CPU's BLAS and values are compared at ``IDEAL_TOLERANCE``):

* ``compare``:   each sample input, mirrored onto ``photonic`` (same bytes, sizes, strides and
                 storage offset), gives the same results as on the CPU: values, dtype, shape,
                 device ``photonic``; inputs that the op mutates end equal; and the device emits
                 no warning the CPU does not.
* ``noncontig``: the same with ``SampleInput.noncontiguous()`` samples.
* ``out``:       for ops with ``out=``: photonic ``out`` tensors (of the result's shape, then of
                 size 0 so they get resized) are written like CPU ones and returned as themselves.

Random ops are seeded identically on both sides (``torch.manual_seed`` seeds both generators).

Selection
---------
By default a fixed list of common ops runs (``FAST_OPS``, about 90 ops, a minute or two on 2 cores).
The whole database runs with::

    PHOTONIC_OPDB=full python -m pytest tests/device/test_opdb.py -n 2 -q
    PHOTONIC_OPDB=full PHOTONIC_OPDB_CONFIG=ideal python -m pytest tests/device/test_opdb.py -n 2 -q

(about 1,700 tests each; several minutes). Those tests are marked ``slow``. The fast list runs in
both configurations as part of the suite.

Expected failures
-----------------
``tests/device/opdb_expected_failures.txt`` lists every known failure, one line per test id
(``check::op_name[.variant]``, or ``ideal/check::...`` for a failure of the optical path only)
followed by ``: reason``. A listed test that fails is reported as
xfail; a listed test that passes fails the run (strict xfail: remove its line); a failure that is
not listed fails the run.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
import torch_photonic as tp  # before torch.testing._internal: it lists devices at import
from torch.testing._internal.common_methods_invocations import op_db

DEV = "photonic"
FULL = os.environ.get("PHOTONIC_OPDB", "").lower() == "full"
CONFIG = os.environ.get("PHOTONIC_OPDB_CONFIG", "")
CONFIGS = (CONFIG,) if CONFIG else ("exact",) if FULL else ("exact", "ideal")
if not set(CONFIGS) <= {"exact", "ideal"}:
    raise ValueError(f"PHOTONIC_OPDB_CONFIG must be 'exact' or 'ideal', got {CONFIG!r}")
# float32 rounding of the tile-by-tile accumulation of the optical path (rtol, atol)
IDEAL_TOLERANCE = (1e-4, 1e-5)
EXPECTED_FILE = Path(__file__).with_name("opdb_expected_failures.txt")

FAST_OPS = {
    # elementwise
    "add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "log1p", "sqrt", "rsqrt", "sin",
    "cos", "tanh", "sigmoid", "erf", "reciprocal", "clamp", "maximum", "minimum", "where", "lerp",
    "addcmul", "addcdiv", "floor", "round", "sign", "nan_to_num", "atan2", "fmod", "remainder",
    "eq", "lt", "ge", "logical_and", "isnan",
    # activations and nn
    "nn.functional.relu", "nn.functional.gelu", "nn.functional.silu", "nn.functional.softplus",
    "nn.functional.dropout", "nn.functional.layer_norm", "nn.functional.rms_norm",
    "nn.functional.embedding", "nn.functional.linear", "nn.functional.conv2d",
    "nn.functional.cross_entropy", "nn.functional.mse_loss", "nn.functional.group_norm",
    "nn.functional.scaled_dot_product_attention", "nn.functional.pad", "nn.functional.avg_pool2d",
    # reductions
    "sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "max", "min", "var", "std",
    "softmax", "log_softmax", "logsumexp", "cumsum", "norm", "all", "any",
    # matmul
    "mm", "addmm", "bmm", "baddbmm", "matmul", "einsum", "linalg.vector_norm",
    # shape, joining, indexing
    "cat", "stack", "transpose", "permute", "reshape", "view", "as_strided", "expand", "flip", "roll",
    "repeat", "tril", "triu", "index_select", "index_add", "index_put", "index_copy", "gather",
    "scatter", "scatter_add", "scatter_reduce", "masked_fill", "masked_select", "masked_scatter",
    "take_along_dim", "__getitem__",
    # sort and friends
    "topk", "sort", "argsort", "nonzero", "histc", "unique", "searchsorted",
    # factories and copies
    "zeros_like", "full_like", "arange", "clone", "contiguous", "to",
}

# Ops whose results are uninitialised memory: only metadata is compared.
UNINITIALISED = {"empty", "empty_like", "new_empty", "new_empty_strided", "empty_strided", "empty_permuted",
                 "resize_", "resize_as_"}

# (rtol, atol) where the device legitimately computes differently from the CPU.
TOLERANCES = {
    # The CPU runs its flash-attention kernel; other devices take the math path, whose q@k^T and
    # p@v products go through the photonic matmul entry (by design): float32 rounding differs.
    "nn.functional.scaled_dot_product_attention": (1e-4, 1e-4),
    "nn.functional.multi_head_attention_forward": (1e-4, 1e-4),  # the same, inside MHA
}


def _full_name(op) -> str:
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def _selected_ops():
    ops = [op for op in op_db if torch.float32 in op.supported_dtypes("cpu")]
    if not FULL:
        ops = [op for op in ops if op.name in FAST_OPS]
    return ops


def _load_expected() -> dict:
    expected = {}
    if EXPECTED_FILE.exists():
        for line in EXPECTED_FILE.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            test_id, _, reason = line.partition(": ")
            expected[test_id.strip()] = reason.strip() or "listed"
    return expected


EXPECTED = _load_expected()
OPS = _selected_ops()
_marks = [pytest.mark.slow] if FULL else []


def _params(check: str, ops):
    out = []
    for config in CONFIGS:
        for op in ops:
            if check == "out" and not op.supports_out:
                continue
            test_id = f"{check}::{_full_name(op)}"
            marks = list(_marks)
            reason = EXPECTED.get(test_id) or (EXPECTED.get(f"ideal/{test_id}") if config == "ideal" else None)
            if reason:
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
            out.append(pytest.param(op, config, id=f"{config}-{_full_name(op)}", marks=marks))
    return out


@pytest.fixture
def device_config(request):
    """Runs the test with the device's products on ``config`` ('exact' or the 'ideal' preset)."""
    config = request.node.callspec.params["config"]
    with torch.photonic.set_config("exact" if config == "exact" else tp.preset("ideal")):
        yield config


def _tolerance(op, config):
    tol = TOLERANCES.get(_full_name(op))
    if config == "ideal":
        tol = tuple(max(a, b) for a, b in zip(tol or (0.0, 0.0), IDEAL_TOLERANCE))
    return tol


# ---- moving samples -------------------------------------------------------------------------
def _copy_layout(t: torch.Tensor, device: str) -> torch.Tensor:
    """A tensor on `device` with t's bytes, sizes, strides, storage offset and conj/neg bits.

    Copying the whole storage keeps what as_strided-like ops can see beyond the view itself."""
    if t.is_conj():
        return _copy_layout(t.conj(), device).conj()
    if t.is_neg():
        return torch._neg_view(_copy_layout(torch._neg_view(t), device))
    if t.layout != torch.strided or t.device.type != "cpu":
        return t.to(device)
    storage = t.untyped_storage()
    copied = storage.to(device=device) if device != "cpu" else storage.clone()
    out = torch.empty(0, dtype=t.dtype, device=device)
    out.set_(copied, t.storage_offset(), t.size(), t.stride())
    return out.requires_grad_(t.requires_grad)


def _map(x, tensor_fn, device_fn):
    if isinstance(x, torch.Tensor):
        return tensor_fn(x)
    if isinstance(x, torch.device) or (isinstance(x, str) and x in ("cpu", "photonic")):
        return device_fn(x)
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_map(v, tensor_fn, device_fn) for v in x))
    if isinstance(x, (tuple, list)):
        return type(x)(_map(v, tensor_fn, device_fn) for v in x)
    if isinstance(x, dict):
        return {k: _map(v, tensor_fn, device_fn) for k, v in x.items()}
    return x


# Positional arguments an op's contract wants on the host whatever the device (as on cuda).
HOST_ARGS = {"tensor_split": (0,)}


def _to_device(sample, op=None):
    def dev(d):
        return torch.device(DEV) if isinstance(d, torch.device) else DEV

    inp, args, kwargs = _map((sample.input, sample.args, sample.kwargs), lambda t: _copy_layout(t, DEV), dev)
    for i in HOST_ARGS.get(op.name if op is not None else "", ()):
        if i < len(args) and isinstance(sample.args[i], torch.Tensor):
            args = (*args[:i], sample.args[i], *args[i + 1:])
    return inp, args, kwargs


def _clone_cpu(sample):
    return _map((sample.input, sample.args, sample.kwargs), lambda t: _copy_layout(t, "cpu"), lambda d: d)


def _on_device(args) -> bool:
    """Whether a call's arguments involve the device (else results stay on the cpu, like torch.arange(2))."""
    found = []
    _map(args, lambda t: found.append(t.device.type == DEV), lambda d: found.append(str(d).startswith(DEV)))
    return any(found)


def _leaves(x, acc=None):
    acc = [] if acc is None else acc
    if isinstance(x, torch.Tensor):
        acc.append(x)
    elif isinstance(x, (tuple, list)):
        for v in x:
            _leaves(v, acc)
    elif isinstance(x, dict):
        for v in x.values():
            _leaves(v, acc)
    return acc


def _assert_same(got, expected, what, values=True, device=DEV, tol=None):
    if isinstance(expected, torch.Tensor):
        assert isinstance(got, torch.Tensor), f"{what}: got {type(got).__name__}, expected a tensor"
        if device is not None:  # None: inputs, whose devices the harness chose
            assert got.device.type == device, f"{what}: result on {got.device}, expected {device}"
        assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != {expected.dtype}"
        assert got.shape == expected.shape, f"{what}: shape {tuple(got.shape)} != {tuple(expected.shape)}"
        if values:
            rtol, atol = tol if tol else (None, None)
            torch.testing.assert_close(got.detach().cpu(), expected.detach(), equal_nan=True, rtol=rtol, atol=atol,
                                       check_device=False, msg=lambda m: f"{what}: {m}")
    elif isinstance(expected, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(expected), f"{what}: {got!r} vs {expected!r}"
        for i, (g, e) in enumerate(zip(got, expected)):
            _assert_same(g, e, f"{what}[{i}]", values, device, tol)
    elif isinstance(expected, float) and expected != expected:
        assert got != got, what
    else:
        assert got == expected, f"{what}: {got!r} != {expected!r}"


def _call(fn, args, kwargs, seed):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(seed)
        try:
            result, error = fn(*args, **kwargs), None
        except Exception as e:  # noqa: BLE001
            result, error = None, e
    return result, error, {str(w.message) for w in caught}


def _check_sample(op, sample, index, what, config="exact"):
    values = op.name not in UNINITIALISED
    cpu_input, cpu_args, cpu_kwargs = _clone_cpu(sample)
    dev_input, dev_args, dev_kwargs = _to_device(sample, op)
    expected, cpu_err, cpu_warn = _call(op, (cpu_input, *cpu_args), cpu_kwargs, index)
    got, dev_err, dev_warn = _call(op, (dev_input, *dev_args), dev_kwargs, index)
    label = f"{what} sample {index} ({sample.name or sample.summary() if hasattr(sample, 'summary') else ''})"
    if cpu_err is not None:
        assert dev_err is not None, f"{label}: cpu raised {cpu_err!r}, photonic did not"
        return
    if dev_err is not None:
        raise AssertionError(f"{label}: photonic raised {type(dev_err).__name__}: {dev_err}") from dev_err
    device = DEV if _on_device((dev_input, dev_args, dev_kwargs)) else "cpu"
    tol = _tolerance(op, config)
    _assert_same(got, expected, label, values, device, tol)
    # mutated inputs end equal too
    if values:
        _assert_same(_leaves((dev_input, dev_args, dev_kwargs)), _leaves((cpu_input, cpu_args, cpu_kwargs)),
                     f"{label} inputs after the call", device=None, tol=tol)
    extra = {w for w in dev_warn - cpu_warn if "photonic" in w or "resized" in w or "device" in w.lower()}
    assert not extra, f"{label}: photonic-only warnings {extra}"


def _samples(op, noncontiguous=False):
    torch.manual_seed(0)
    samples = list(op.sample_inputs("cpu", torch.float32, requires_grad=False))
    if noncontiguous:
        samples = [s.noncontiguous() for s in samples]
    return samples


@pytest.mark.parametrize("op,config", _params("compare", OPS))
def test_compare(op, config, device_config):
    samples = _samples(op)
    if not samples:
        pytest.skip("the op has no float32 sample inputs in op_db")
    for i, sample in enumerate(samples):
        _check_sample(op, sample, i, "compare", config)


@pytest.mark.parametrize("op,config", _params("noncontig", OPS))
def test_noncontig(op, config, device_config):
    samples = _samples(op, noncontiguous=True)
    if not samples:
        pytest.skip("the op has no float32 sample inputs in op_db")
    for i, sample in enumerate(samples):
        _check_sample(op, sample, i, "noncontig", config)


def _outs_like(expected, device, empty):
    if isinstance(expected, torch.Tensor):
        # filled alike on both sides, so memory an op leaves unwritten compares equal
        return torch.zeros(0 if empty else expected.shape, dtype=expected.dtype, device=device)
    return tuple(_outs_like(e, device, empty) for e in expected)


@pytest.mark.parametrize("op,config", _params("out", OPS))
def test_out(op, config, device_config):
    samples = _samples(op)
    checked = 0
    for i, sample in enumerate(samples):
        cpu_input, cpu_args, cpu_kwargs = _clone_cpu(sample)
        expected, err, _ = _call(op, (cpu_input, *cpu_args), cpu_kwargs, i)
        if err is not None:
            continue
        if not (isinstance(expected, torch.Tensor)
                or (isinstance(expected, tuple) and expected and all(isinstance(e, torch.Tensor) for e in expected))):
            continue
        for empty in (False, True):
            cpu_out = _outs_like(expected, "cpu", empty)
            cpu_input, cpu_args, cpu_kwargs = _clone_cpu(sample)
            r_cpu, cpu_err, cpu_warn = _call(op, (cpu_input, *cpu_args), {**cpu_kwargs, "out": cpu_out}, i)
            dev_out = _outs_like(expected, DEV, empty)
            dev_input, dev_args, dev_kwargs = _to_device(sample, op)
            r_dev, dev_err, dev_warn = _call(op, (dev_input, *dev_args), {**dev_kwargs, "out": dev_out}, i)
            label = f"out sample {i} ({'size-0' if empty else 'sized'} out)"
            if cpu_err is not None:
                assert dev_err is not None, f"{label}: cpu raised {cpu_err!r}, photonic did not"
                continue
            if dev_err is not None:
                raise AssertionError(f"{label}: photonic raised {type(dev_err).__name__}: {dev_err}") from dev_err
            values = op.name not in UNINITIALISED
            _assert_same(dev_out, cpu_out, label, values, tol=_tolerance(op, config))
            for r, o in zip(_leaves(r_dev), _leaves(dev_out)):
                assert r is o, f"{label}: out= did not return the out tensor itself"
            extra = dev_warn - cpu_warn
            assert not extra, f"{label}: photonic-only warnings {extra}"
            checked += 1
    if not checked:
        pytest.skip("no sample of this op returns tensors that accept out=")


def test_expected_failures_file_is_well_formed():
    """Every listed id names an op of op_db and a check, with a reason."""
    names = {_full_name(op) for op in op_db}
    for test_id, reason in EXPECTED.items():
        check, _, name = test_id.removeprefix("ideal/").partition("::")
        assert check in ("compare", "noncontig", "out"), test_id
        assert name in names, f"{test_id}: no such op in op_db"
        assert reason and reason != "listed", f"{test_id}: give a reason"
