#include "model/backend.h"

#include <atomic>

#include "model/simd.h"
#include "util/error.h"

namespace avla {

namespace {
std::atomic<bool> g_cpu_kernels{true};
thread_local Precision t_precision = Precision::Fp32;
}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::Fp32;
  AVLA_CHECK(name == "bf16", "precision", "--precision '{}' is not fp32 or bf16", name);
  AVLA_CHECK(cpu_has_avx512_bf16(), "precision",
             "--precision bf16 needs a cpu with avx512-bf16 (vdpbf16ps), and this one has none; "
             "use fp32");
  return Precision::Bf16;
}

const char* precision_name(Precision precision) {
  return precision == Precision::Bf16 ? "bf16" : "fp32";
}

Precision kernel_precision() {
  return t_precision;
}

PrecisionScope::PrecisionScope(Precision precision) : was_(t_precision) {
  t_precision = precision;
}

PrecisionScope::~PrecisionScope() {
  t_precision = was_;
}

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  AVLA_CHECK(name == "cuda" || name.rfind("cuda:", 0) == 0, "device",
             "--device '{}' is not cpu, cuda or cuda:N", name);
  int index = 0;
  if (name.size() > 5) {
    const std::string digits = name.substr(5);
    AVLA_CHECK(!digits.empty() && digits.size() < 4 &&
                   digits.find_first_not_of("0123456789") == std::string::npos,
               "device", "--device '{}': the index after cuda: is not a number", name);
    index = std::stoi(digits);
  }
  AVLA_CHECK(torch::cuda::is_available(), "device",
             "--device {}: this build's LibTorch has no usable CUDA (Debian's libtorch is "
             "cpu-only; docs/GPU.md says how to build against a CUDA LibTorch)",
             name);
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  AVLA_CHECK(index < count, "device", "--device {}: only {} cuda device(s) are visible", name,
             count);
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(index)};
}

torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device) {
  return t.defined() ? t.to(device) : t;
}

void follow_device(torch::Tensor& table, const torch::Device& device) {
  if (!table.defined() || table.device() == device) return;
  c10::InferenceMode normal_tensors(false);
  table = table.to(device);
}

bool use_cpu_kernels(const torch::Tensor& x) {
  return x.is_cpu() && cpu_has_avx2_fma() && g_cpu_kernels.load(std::memory_order_relaxed);
}

void set_cpu_kernels(bool on) {
  g_cpu_kernels.store(on);
}

bool cpu_kernels_on() {
  return g_cpu_kernels.load();
}

PlainOpsScope::PlainOpsScope() : was_on_(cpu_kernels_on()) {
  set_cpu_kernels(false);
}

PlainOpsScope::~PlainOpsScope() {
  set_cpu_kernels(was_on_);
}

}  // namespace avla
