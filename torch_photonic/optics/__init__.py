"""The optical core: kernel wrappers (program, drift, mvm), calibration of converter ranges, the
one store of programmed weights, and the product both execution paths call."""
from .kernels import ClipCounts, ProgrammedState, drift, mvm, program, reference
from .product import expert_products, weight_product
from .store import WeightStore, store

__all__ = ["ClipCounts", "ProgrammedState", "drift", "mvm", "program", "reference",
           "expert_products", "weight_product", "WeightStore", "store"]
