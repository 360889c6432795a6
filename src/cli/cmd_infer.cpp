// asyncvla infer --ckpt DIR --data FILE --demo I --step T [--mode auto|sfm|random|async]
#include <fmt/format.h>

#include "cli/commands.h"
#include "data/libero_file.h"
#include "policy/policy.h"
#include "util/error.h"

namespace avla {

Command add_infer_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("infer", "predict one action chunk and compare with the demo");
  struct Args {
    std::string ckpt, data;
    int demo = 0, step = 0;
    int64_t seed = 0;
    ActFlags act;
    DeviceFlags device;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--ckpt", args->ckpt, "checkpoint directory")->required();
  cmd->add_option("--data", args->data, "LIBERO-layout HDF5 file")->required();
  cmd->add_option("--demo", args->demo, "demo index in the file");
  cmd->add_option("--step", args->step, "time step in the demo");
  add_act_flags(cmd, args->act);
  add_device_flags(cmd, args->device, true);
  cmd->add_option("--seed", args->seed, "noise seed");
  return {
      cmd, [args]() {
        Policy policy(args->ckpt, apply_device_flags(args->device), precision_flag(args->device));
        LiberoFile file = read_libero_file(args->data);
        AVLA_CHECK(args->demo >= 0 && args->demo < static_cast<int>(file.demos.size()), "infer",
                   "--demo {} out of range: {} has {} demos", args->demo, args->data,
                   file.demos.size());
        const LiberoDemo& d = file.demos[args->demo];
        AVLA_CHECK(args->step >= 0 && args->step < d.length(), "infer",
                   "--step {} out of range: demo {} has {} steps", args->step, args->demo,
                   d.length());
        const Observation obs = demo_observation(
            d, args->step, file.language_instruction, policy.config().model.image_rotation,
            policy.privileged_state(), policy.config().model.n_cam);
        ActOptions options = act_options(args->act, args->ckpt);
        options.seed = static_cast<uint64_t>(args->seed);
        ActResult r = policy.act(obs, options);

        const int L = policy.config().model.chunk_len;
        fmt::print("instruction: {}\nmode: {}\n", obs.instruction, act_mode_name(options.mode));
        fmt::print("{:>3} {:>4} {:>5} | {:^62} | {:^62}\n", "l", "mask", "conf", "predicted",
                   "ground truth");
        double se = 0.0;
        int counted = 0;
        for (int l = 0; l < L; ++l) {
          const int64_t t = std::min<int64_t>(args->step + l, d.length() - 1);
          torch::Tensor gt = d.actions[t].to(torch::kFloat32);
          torch::Tensor pred = r.actions[l];
          std::string ps, gs;
          for (int k = 0; k < pred.size(0); ++k) {
            ps += fmt::format("{:8.3f} ", pred[k].item<float>());
            gs += fmt::format("{:8.3f} ", gt[k].item<float>());
          }
          const std::string conf =
              r.confidence.defined() ? fmt::format("{:.3f}", r.confidence[l].item<float>()) : "-";
          fmt::print("{:>3} {:>4} {:>5} | {}| {}{}\n", l, r.mask[l].item<bool>() ? "afm" : "", conf,
                     ps, gs, args->step + l < d.length() ? "" : " (past end)");
          if (args->step + l < d.length()) {
            se += (pred - gt).pow(2).mean().item<double>();
            ++counted;
          }
        }
        fmt::print("mse vs ground truth: {:.5f} over {} steps\n", se / std::max(1, counted),
                   counted);
        fmt::print("timings: prefix {:.1f} ms | sfm {:.1f} ms | afm {:.1f} ms | total {:.1f} ms\n",
                   r.timings.prefix_ms, r.timings.sfm_ms, r.timings.afm_ms, r.timings.total_ms);
        return 0;
      }};
}

}  // namespace avla
