// bf16 autocast on the CPU for one scope: switched off again (and its weight cache cleared) when
// the scope ends, also when the forward throws. off: does nothing.
#pragma once

#include <ATen/autocast_mode.h>

namespace avla {

struct Bf16Autocast {
  explicit Bf16Autocast(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
  ~Bf16Autocast() {
    if (!on_) return;
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;
  bool on_;
};

}  // namespace avla
