// where a model runs and through which ops. on the cpu, the no-grad inference paths use our own
// kernels (the packed small-M linear, the fused cached attention, the fused rms norm); on any other
// device, and on the cpu when they are switched off, the plain LibTorch ops run: the path a cuda
// build takes, which tests hold equal to the kernels on the cpu.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/precision.h"

namespace avla {

// "cpu", "cuda" or "cuda:N" -> the device. an unknown name, or cuda on a LibTorch built without it
// (Debian's is cpu-only) or with fewer devices, is an error naming the flag and the name
torch::Device parse_device(const std::string& name);

// t on device; an undefined tensor stays undefined (the optional fields of a batch)
torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device);
// moves a fixed table that is not a weight (rotary cos/sin, time frequencies) to device, in
// place, where it lives elsewhere: a model moved with .to(device) does not carry such tensors, so
// they follow on the first forward there. the moved tensor is a normal one even when that forward
// runs under InferenceMode: an inference tensor kept in the model breaks every later training
// forward ("cannot be saved for backward"), as the first cuda run found
void follow_device(torch::Tensor& table, const torch::Device& device);

// whether x goes through our cpu kernels: it lives on the cpu, the cpu has avx2 and fma, and the
// kernels are switched on (the default)
bool use_cpu_kernels(const torch::Tensor& x);

// switch our cpu kernels on or off for the whole process (--plain-ops; tests and the bench)
void set_cpu_kernels(bool on);
bool cpu_kernels_on();

// the precision of the kernels on this thread: fp32 unless a PrecisionScope says otherwise (a
// policy sets its own around every forward, so two policies in one process can differ)
Precision kernel_precision();
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision precision);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision was_;
};

// the plain-op path for a scope: the kernels' previous setting comes back at its end
class PlainOpsScope {
 public:
  PlainOpsScope();
  ~PlainOpsScope();
  PlainOpsScope(const PlainOpsScope&) = delete;
  PlainOpsScope& operator=(const PlainOpsScope&) = delete;

 private:
  bool was_on_;
};

}  // namespace avla
