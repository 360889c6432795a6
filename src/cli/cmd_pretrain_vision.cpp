// asyncvla pretrain-vision --corpus FILE... --out DIR [--config configs/small.json] [...]
#include "cli/commands.h"
#include "model/config.h"
#include "train/vision_pretrain.h"
#include "util/log.h"

namespace avla {

Command add_pretrain_vision_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "pretrain-vision",
      "pretrain the vision encoder on a labelled sim corpus (object positions and identities, "
      "drawer, gripper); train --init-vision starts a policy from it");
  struct Args {
    std::vector<std::string> corpus;
    std::string config, out, yaw_frame = "world";
    int steps = 8000, batch = 64, eval_every = 1000, stop_after = 0, aug_shift = 0;
    int64_t holdout = 2000;
    double lr = 1e-3, time_limit = 0;
    int64_t seed = 0;
    bool bf16 = false, resume = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--corpus", args->corpus, "corpus files of `asyncvla sim corpus`")->required();
  cmd->add_option("--config", args->config,
                  "model preset JSON whose vision fields shape the encoder (default: built-in "
                  "small preset)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "encoder directory (train --init-vision reads it)")
      ->required();
  cmd->add_option("--steps", args->steps, "training steps")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->batch, "frames per step")->check(CLI::PositiveNumber);
  cmd->add_option("--lr", args->lr, "peak learning rate (warm-up, then cosine)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args->seed, "random seed")->check(CLI::NonNegativeNumber);
  cmd->add_option("--holdout", args->holdout,
                  "the corpus's last frames, held out for the probe metrics");
  cmd->add_option("--eval-every", args->eval_every, "held-out probe metrics every N steps")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--aug-shift", args->aug_shift, "random-shift augmentation in pixels (0: off)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--time-limit", args->time_limit,
                  "end the schedule after this many seconds of training, over resumes (0: by "
                  "--steps)");
  cmd->add_option("--yaw-frame", args->yaw_frame,
                  "the frame of the yaw labels (format-2 corpora): world, or grip (relative to "
                  "the fingers' closing axis, what the wrist camera sees)")
      ->check(CLI::IsMember({"world", "grip"}));
  cmd->add_flag("--bf16", args->bf16, "bf16 autocast for the forward pass");
  cmd->add_flag("--resume", args->resume, "continue the run in --out from its saved state");
  cmd->add_option("--stop-after", args->stop_after, "stop after this many steps (0: never)");
  return {cmd, [args]() {
            PretrainVisionOptions opt;
            opt.corpus = args->corpus;
            opt.config = args->config.empty() ? Config{} : load_config(args->config);
            TrainConfig& tc = opt.config.train;
            tc.steps = args->steps;
            tc.batch = args->batch;
            tc.lr = args->lr;
            tc.seed = static_cast<uint64_t>(args->seed);
            tc.bf16 = args->bf16;
            tc.aug_shift = args->aug_shift;
            tc.warmup_steps = std::min(tc.warmup_steps * 3, args->steps / 10);
            tc.log_every = 50;
            opt.out_dir = args->out;
            opt.holdout = args->holdout;
            opt.eval_every = args->eval_every;
            opt.time_limit_s = args->time_limit;
            opt.resume = args->resume;
            opt.stop_after = args->stop_after;
            opt.yaw_frame = args->yaw_frame;
            pretrain_vision(opt);
            return 0;
          }};
}

}  // namespace avla
