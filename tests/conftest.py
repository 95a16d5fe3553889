"""Shared test setup for the photonic device.

``torch_photonic`` is imported here, before any test module can import
``torch.testing._internal``: ``common_device_type`` computes its device list at import time,
so the backend must already be registered, or ``instantiate_device_type_tests`` never
generates the photonic variants.
"""
from __future__ import annotations

import torch
import torch_photonic  # noqa: F401  (registers the photonic device; keep before torch.testing._internal)

import pytest


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
