// The device itself: there is one emulated photonic device, index 0.
#include "runtime/device.h"

#include <c10/util/Exception.h>

namespace photonic {

void check_device_index(c10::DeviceIndex index) {
  TORCH_CHECK(index == -1 || index == 0, "photonic device index ", static_cast<int>(index),
              " is out of range: there is 1 photonic device, use 'photonic' or 'photonic:0'");
}

}  // namespace photonic
