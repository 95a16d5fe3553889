// Which kernel runs scaled_dot_product_attention on the photonic device.
//
// at::scaled_dot_product_attention asks the per-device-type stub _fused_sdp_choice_stub for a
// kernel. The photonic answer depends on the device configuration, which lives in Python, so the
// stub defers to the PrivateUse1 kernel of the aten::_fused_sdp_choice operator registered by
// torch_photonic/device/attention.py: "overrideable" runs the call as
// _scaled_dot_product_fused_attention_overrideable (registered there too: the CPU's fused kernel
// on host aliases), "error" refuses it as the CPU would, anything else takes the math path
// (bmm + softmax through the device's matmul entry). Without that kernel: the math path.
#include <ATen/ATen.h>
#include <ATen/SDPBackend.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/native/DispatchStub.h>
#include <ATen/native/transformers/attention.h>

#include <optional>

namespace photonic {
namespace {

int64_t photonic_sdp_choice(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                            const std::optional<at::Tensor>& attn_mask, double dropout_p, bool is_causal,
                            std::optional<double> scale, bool enable_gqa) {
  constexpr auto math = static_cast<int64_t>(at::SDPBackend::math);
  static const c10::OperatorHandle op =
      c10::Dispatcher::singleton().findSchemaOrThrow("aten::_fused_sdp_choice", "");
  if (!op.hasKernelForDispatchKey(c10::DispatchKey::PrivateUse1)) return math;
  const int64_t choice =
      at::_fused_sdp_choice(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa);
  if (choice == static_cast<int64_t>(at::SDPBackend::overrideable) ||
      choice == static_cast<int64_t>(at::SDPBackend::error)) {
    return choice;
  }
  return math;
}

}  // namespace
}  // namespace photonic

namespace at::native {
REGISTER_PRIVATEUSE1_DISPATCH(_fused_sdp_choice_stub, &photonic::photonic_sdp_choice)
}  // namespace at::native
