"""The optical core: kernel wrappers (program, drift, calibrate, mvm), the one store of
programmed weights, and the product both execution paths call."""
from .kernels import ProgrammedState, calibrate, drift, mvm, program, reference
from .product import expert_products, weight_product
from .store import WeightStore, store

__all__ = ["ProgrammedState", "calibrate", "drift", "mvm", "program", "reference",
           "expert_products", "weight_product", "WeightStore", "store"]
