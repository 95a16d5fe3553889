// Registrations of the host fallback (body in aten/native/fallback.cpp): the PrivateUse1 boxed
// fallback for every op without a photonic kernel, and explicit registrations for ops that would
// otherwise take a composite path around it.
#include "aten/native/fallback.h"

#include <torch/library.h>

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&photonic::host_fallback>());
}

// Ops whose composite (decomposed) path would bypass the host fallback and differ from CPU.
TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("native_layer_norm", torch::CppFunction::makeFromBoxedFunction<&photonic::host_fallback>());
  m.impl("native_layer_norm_backward", torch::CppFunction::makeFromBoxedFunction<&photonic::host_fallback>());
  // Their functional forms reach the backend as the .out variant (structured delegates), whose
  // CPU kernels warn "An output with one or more elements was resized" on every reducing call
  // (the empty device output is resized to the reduced shape); the functional CPU kernels do not.
  m.impl("mse_loss", torch::CppFunction::makeFromBoxedFunction<&photonic::host_fallback>());
  m.impl("smooth_l1_loss", torch::CppFunction::makeFromBoxedFunction<&photonic::host_fallback>());
  // Like native_layer_norm: the CompositeExplicitAutograd math_group_norm (via batch_norm) would
  // run instead of the CPU kernel, differing from CPU (e.g. on non-contiguous input).
  m.impl("native_group_norm", torch::CppFunction::makeFromBoxedFunction<&photonic::host_fallback>());
  // mode.values is CompositeExplicitAutograd and refuses devices other than CPU/CUDA/XPU before
  // dispatching: run it on host aliases instead.
  m.impl("mode.values", torch::CppFunction::makeFromBoxedFunction<&photonic::host_fallback>());
  // The functional forms of the commonest structured ops: without a kernel of their own they
  // allocate an empty device output and call the .out variant; run on the host directly, the
  // CPU kernel allocates and the fallback adopts its result (one op, no extra output pass).
  for (const char* op : {"add.Tensor", "sub.Tensor", "mul.Tensor", "div.Tensor", "add.Scalar",
                         "mul.Scalar", "gelu", "silu", "sigmoid", "tanh", "exp", "rsqrt", "neg",
                         "pow.Tensor_Scalar", "_softmax", "_log_softmax", "mean.dim",
                         "sum.dim_IntList", "eq.Tensor", "eq.Scalar", "ne.Scalar", "gt.Scalar",
                         "lt.Scalar", "cumsum", "topk", "sort.stable", "argmax", "index_add",
                         "scatter.src", "gather", "clamp", "maximum", "minimum", "bitwise_not"}) {
    m.impl(op, torch::CppFunction::makeFromBoxedFunction<&photonic::host_fallback>());
  }
}
