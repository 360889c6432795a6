// the device flags shared by the commands that run a model (docs/GPU.md)
#include "cli/commands.h"
#include "model/backend.h"

namespace avla {

void add_device_flags(CLI::App* cmd, DeviceFlags& flags, bool with_precision) {
  cmd->add_option("--device", flags.device,
                  "where the model runs: cpu, cuda or cuda:N (cuda needs a LibTorch built with "
                  "it; docs/GPU.md)");
  cmd->add_flag("--plain-ops", flags.plain_ops,
                "run LibTorch's plain ops instead of our cpu kernels (the path cuda takes; for "
                "checks and benchmarks)");
  if (with_precision) {
    cmd->add_option("--precision", flags.precision,
                    "what our cpu kernels compute the linear layers in: fp32, or bf16 (weights "
                    "and inputs rounded to bf16, fp32 sums; needs avx512-bf16)")
        ->check(CLI::IsMember({"fp32", "bf16"}));
  }
}

Precision precision_flag(const DeviceFlags& flags) {
  return parse_precision(flags.precision);
}

torch::Device apply_device_flags(const DeviceFlags& flags) {
  const torch::Device device = parse_device(flags.device);
  if (flags.plain_ops) set_cpu_kernels(false);
  return device;
}

}  // namespace avla
