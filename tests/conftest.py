"""Shared test setup for the photonic device.

``torch_photonic`` is imported here, before any test module can import
``torch.testing._internal``: ``common_device_type`` computes its device list at import time,
so the backend must already be registered, or ``instantiate_device_type_tests`` never
generates the photonic variants.

Two things make every test independent of the tests that ran before it in the same process
(see "How the suite guards the numbers" in tests/README.md):

* ``_isolate_process_state`` (autouse) restores, around every test, the device's process-wide
  state: its hardware config (with a fresh matmul handler), fallback policy, memory limit, the
  ageing clock and calibration phase of the one store of programmed weights, the store's
  programmed weights themselves, its counter of unnamed weights, the warn-once sets, the open
  meters, and torch's default dtype, grad mode and thread count.
* The random-order plugin below: ``--random-order`` (a fresh seed, printed) or
  ``--random-order-seed=N`` shuffles the collected tests, and every test starts from RNGs
  (``random``, ``numpy.random``, ``torch`` with the photonic generator) seeded from that seed
  and its own node id, so a failing order replays with the same seed.
"""
from __future__ import annotations

import itertools
import os
import random
import zlib

import numpy as np
import torch
import torch_photonic  # noqa: F401  (registers the photonic device; keep before torch.testing._internal)

import pytest

from torch_photonic import _C
from torch_photonic.energy import events
from torch_photonic.optics import calibration, product
from torch_photonic.optics.store import store

# ---- random order -------------------------------------------------------------------------
SEED_OPTION = "random_order_seed"


def pytest_addoption(parser):
    group = parser.getgroup("random-order", "random test order (tests/conftest.py)")
    group.addoption("--random-order", action="store_true", default=False,
                    help="shuffle the tests (modules, then the tests inside each) with a fresh "
                         "seed, printed in the header")
    group.addoption("--random-order-seed", type=int, default=None, metavar="N",
                    help="shuffle the tests with seed N (replays the order of a run that printed "
                         "N); also seeds each test's RNGs from N")


def _run_seed(config) -> int | None:
    """The seed of this run (the same on the controller and every xdist worker), or None when
    the tests run in file order."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and SEED_OPTION in workerinput:
        return workerinput[SEED_OPTION]
    return getattr(config, "_random_order_seed", None)


def pytest_configure(config):
    if getattr(config, "workerinput", None) is not None:
        return  # a worker takes the controller's seed (pytest_configure_node)
    seed = config.getoption("random_order_seed")
    if seed is None and config.getoption("random_order"):
        seed = random.SystemRandom().randrange(1, 10**8)
    config._random_order_seed = seed
    if seed is not None:
        # xdist workers and subprocesses started by tests hash strings alike, so sets iterate in
        # the same order when the seed is replayed (this process's own hashing is fixed already).
        os.environ.setdefault("PYTHONHASHSEED", str(seed % 2**32))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist: each worker shuffles with the controller's seed, so all collect one order."""
    node.workerinput[SEED_OPTION] = _run_seed(node.config)


def pytest_report_header(config):
    seed = _run_seed(config)
    if seed is None:
        return ("random order: off (file order; each test's RNGs seeded from 0 and its node id; "
                "shuffle with --random-order or --random-order-seed=N)")
    return (f"random order: seed {seed} (replay: --random-order-seed={seed}; each test's RNGs "
            f"seeded from {seed} and its node id)")


def _shuffled(items, rng):
    """Modules in a random order, then the tests of each module (grouped by class) in a random
    order: module- and class-scoped fixtures are still set up once per worker."""
    def buckets(seq, key):
        out = {}
        for it in seq:
            out.setdefault(key(it), []).append(it)
        groups = list(out.values())
        rng.shuffle(groups)
        return groups

    result = []
    for module in buckets(items, lambda it: it.nodeid.split("::", 1)[0]):
        for cls in buckets(module, lambda it: it.cls):
            rng.shuffle(cls)
            result.extend(cls)
    return result


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    seed = _run_seed(config)
    if seed is not None:
        items[:] = _shuffled(items, random.Random(seed))


def _test_seed(item) -> int:
    base = _run_seed(item.config) or 0
    return zlib.crc32(f"{base}:{item.nodeid}".encode())


def _seed_rngs(item) -> None:
    s = _test_seed(item)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)  # the CPU generator and the photonic device's


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _seed_rngs(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    _seed_rngs(item)  # the test sees the same RNG state whatever its fixtures drew


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    _seed_rngs(item)


# ---- isolation ----------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _isolate_process_state():
    """Restores the device's process-wide state around every test.

    The programmed-weight store keys its entries weakly by weight tensor, so a test's own weights
    leave it when they die. Tensors that outlive a test (module-scoped fixtures, globals,
    reference cycles not yet collected) keep theirs, with their read counters: the store is
    cleared after every test so that each test programs what it uses and draws the same noise
    whatever ran before. The handler of the device config is installed again before every test,
    which restarts its counter of dynamic (attention) products.
    """
    config = torch.photonic.get_config()
    policy = torch.photonic.fallback_policy()
    limit = torch.photonic.memory_limit()
    default_age = store.default_age
    dtype = torch.get_default_dtype()
    grad = torch.is_grad_enabled()
    threads = torch.get_num_threads()
    host_counting = _C._host_op_counting()
    sinks = list(events._sinks)

    def reset():
        torch.photonic.set_config(config)
        torch.photonic.set_fallback_policy(policy)  # also forgets the ops it warned about
        torch.photonic.set_memory_limit(limit)
        if store.calibrating:
            store.finish_calibration()
        store.clear()
        store.set_age(default_age)
        store._anonymous = itertools.count()  # unnamed weights are named (and seeded) alike
        calibration._warned.clear()
        product._warned_nonfinite.clear()
        _C._set_host_op_counting(host_counting)
        with events._lock:
            events._sinks[:] = sinks

    reset()
    yield
    reset()
    torch.set_default_dtype(dtype)
    torch.set_grad_enabled(grad)
    torch.set_num_threads(threads)


# ---- opt-in fixtures ----------------------------------------------------------------------
@pytest.fixture
def exact_mode():
    """Runs the test with the device's matrix products in exact (float) mode.

    Test modules of the device opt in with ``pytestmark = pytest.mark.usefixtures("exact_mode")``.
    """
    with torch.photonic.set_config("exact"):
        yield


@pytest.fixture
def no_memory_limit():
    """Removes any device memory limit a test sets, whatever happens in it."""
    before = torch.photonic.memory_limit()
    yield
    torch.photonic.set_memory_limit(before)
