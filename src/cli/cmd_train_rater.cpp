// asyncvla train-rater --ckpt DIR --data DIR|FILES [--steps --batch --lr --alpha --beta --eps
// --window]
#include "cli/commands.h"
#include "train/rater_trainer.h"
#include "util/log.h"

namespace avla {

Command add_train_rater_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "train-rater", "train the confidence rater of a checkpoint (eq. 6, backbone frozen)");
  auto o = std::make_shared<RaterTrainOptions>();
  auto dist = std::make_shared<DistFlags>();
  auto device = std::make_shared<DeviceFlags>();
  cmd->add_option("--ckpt", o->ckpt, "trained policy checkpoint; rater files are added to it")
      ->required();
  cmd->add_option("--data", o->data, "LIBERO-layout HDF5 files or directories")->required();
  cmd->add_option("--steps", o->steps, "optimizer steps")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", o->batch, "observations per step")->check(CLI::PositiveNumber);
  cmd->add_option("--lr", o->lr, "peak learning rate (warm-up + cosine)");
  cmd->add_option("--seed", o->seed, "sampling, noise and init seed");
  cmd->add_option("--alpha", o->rater.alpha, "eq. 6 alpha: labels at most 1 - alpha");
  cmd->add_option("--beta", o->rater.beta, "eq. 6 beta: label range");
  cmd->add_option("--eps", o->rater.eps, "eq. 6 epsilon");
  cmd->add_option("--label-space", o->rater.label_space,
                  "where eq. 6 measures a token's error: normalized (model space) or action (env "
                  "action units)")
      ->check(CLI::IsMember({"normalized", "action"}));
  cmd->add_option("--window", o->rater.window,
                  "rate only the chunk's first N tokens, those eval executes before replanning "
                  "(labels normalized over them, async masks only them; 0: the whole chunk)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--layers", o->rater.n_layer, "rater transformer layers");
  cmd->add_option("--width", o->rater.d_model, "rater width");
  cmd->add_option("--log-every", o->log_every, "steps per log line");
  add_dist_flags(cmd, *dist);
  add_device_flags(cmd, *device);
  return {cmd, [o, dist, device]() {
            return run_data_parallel(*dist, [&](const DistConfig& config) {
              o->dist = config;
              o->device = apply_device_flags(*device);
              const auto r = train_rater(*o);
              log_info("[train-rater] loss {:.5f} -> {:.5f} in {} steps", r.first_loss,
                       r.final_loss, r.steps_done);
              return 0;
            });
          }};
}

}  // namespace avla
