// bf16 autocast on the cpu (or on cuda, for a model there) for one scope: switched off again (and
// its weight cache cleared) when the scope ends, also when the forward throws. off: does nothing.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>

namespace avla {

struct Bf16Autocast {
  explicit Bf16Autocast(bool on, c10::DeviceType device = c10::kCPU)
      : on_(on), cuda_(device == c10::kCUDA) {
    if (!on_) return;
    if (cuda_) {
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    } else {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
  }
  ~Bf16Autocast() {
    if (!on_) return;
    if (cuda_) {
      at::autocast::set_enabled(false);
    } else {
      at::autocast::set_cpu_enabled(false);
    }
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;
  bool on_, cuda_;
};

}  // namespace avla
