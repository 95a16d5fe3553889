// Registrations of the ops where the photonic device follows CUDA rather than the CPU (bodies
// in aten/native/cuda_like.cpp).
#include "aten/native/cuda_like.h"

#include <torch/library.h>

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) { m.impl("histc", &photonic::native::histc); }
