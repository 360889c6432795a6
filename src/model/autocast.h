// bf16 autocast on the cpu (or on cuda, for a model there) for one scope: switched off again (and
// its weight cache cleared) when the scope ends, also when the forward throws. off: does nothing.
// LibTorch 2.4 replaced the per-device autocast calls by ones that take the device type; the
// helpers below call whichever the LibTorch we build against has (Debian's 1.13, or a CUDA
// build's 2.x: docs/GPU.md).
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define AVLA_AUTOCAST_BY_DEVICE 1
#else
#define AVLA_AUTOCAST_BY_DEVICE 0
#endif

namespace avla {

// whether autocast is on for device (cpu or cuda)
inline bool autocast_enabled(c10::DeviceType device) {
#if AVLA_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

// autocast on (to bf16) or off for device (cpu or cuda)
inline void set_autocast_bf16(c10::DeviceType device, bool on) {
#if AVLA_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(device, on);
  if (on) at::autocast::set_autocast_dtype(device, at::kBFloat16);
#else
  if (device == c10::kCUDA) {
    at::autocast::set_enabled(on);
    if (on) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  } else {
    at::autocast::set_cpu_enabled(on);
    if (on) at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
#endif
}

struct Bf16Autocast {
  explicit Bf16Autocast(bool on, c10::DeviceType device = c10::kCPU)
      : on_(on), device_(device == c10::kCUDA ? c10::kCUDA : c10::kCPU) {
    if (on_) set_autocast_bf16(device_, true);
  }
  ~Bf16Autocast() {
    if (!on_) return;
    set_autocast_bf16(device_, false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;
  bool on_;
  c10::DeviceType device_;
};

}  // namespace avla
