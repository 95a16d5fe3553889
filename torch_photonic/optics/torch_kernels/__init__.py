"""The optical kernels in composable torch ops: ``program``, ``drift``, ``mvm`` and
``draw_cells`` with the schemas of ``torch.ops.photonic.*``, written from the C++ kernels
(csrc/optical/) step by step, so that on the CPU they give the C++ results bit for bit for the
same seed, and run on any device PyTorch supports.

One file per piece: ``rng`` (the counter-based normals), ``numerics`` (the float helpers and the
FMA the C++ read-out clones form), ``program``, ``drift``, ``draw``, ``readout`` (receiver, ADC,
bound management's row products) and ``mvm``. :func:`torch_photonic.optics.kernels.ops_for`
picks between these and the C++ ops.
"""
from .draw import draw_cells
from .drift import drift
from .mvm import mvm
from .program import program

__all__ = ["program", "drift", "mvm", "draw_cells"]
