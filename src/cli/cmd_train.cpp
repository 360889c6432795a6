// asyncvla train --data DIR|FILES --config configs/small.json --out runs/NAME [...]
#include <nlohmann/json.hpp>
#include <optional>

#include "checkpoint/pretrained_vision.h"
#include "cli/commands.h"
#include "data/state_features.h"
#include "model/config.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

Command add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "train", "unified SFM+AFM training (Alg. 2) on LIBERO-layout HDF5 or RLDS data");
  struct Args {
    std::vector<std::string> data;
    std::string config, out, vision_stem, init_vision;
    // overrides of the config: set only when the flag is given
    std::optional<int> steps, batch, flow_draws, aug_shift, keep_every, image_rotation;
    std::optional<double> lr, time_limit, sfm_share, ema, state_std_floor, action_range_floor;
    std::optional<double> context_noise, aux_object, vision_lr_scale;
    std::optional<uint64_t> seed;
    int stop_after = 0, cameras = -1;
    bool bf16 = false, vanilla = false, resume = false, privileged_state = false;
    bool freeze_vision = false, cache_vision = false, scene_token = false;
    DistFlags dist;
    DeviceFlags device;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--data", args->data,
                  "training data: LIBERO-layout HDF5 files, directories of them, or RLDS dataset "
                  "directories (Bridge-V2, Fractal); PATH:WEIGHT for a weighted mixture")
      ->required();
  cmd->add_option("--config", args->config,
                  "model/training preset JSON (default: built-in small preset)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "run / checkpoint directory")->required();
  cmd->add_option("--steps", args->steps, "training steps (default: config)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->batch, "batch size (default: config)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", args->lr, "peak learning rate (default: config)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args->seed, "random seed (default: config)");
  cmd->add_flag("--bf16", args->bf16, "bf16 autocast for the forward pass");
  cmd->add_flag("--vanilla", args->vanilla, "plain SFM training (mask all ones)");
  cmd->add_flag("--resume", args->resume, "continue the run in --out from its saved state");
  cmd->add_option("--stop-after", args->stop_after,
                  "stop after this many steps of this run (0: never)");
  cmd->add_option("--time-limit", args->time_limit,
                  "end the schedule (cosine lr at its floor) after this many seconds of training, "
                  "counted over resumes (0: by --steps only; default: config)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option(
         "--sfm-share", args->sfm_share,
         "share of plain-SFM rows among the Alg. 2 rows (0: Alg. 2 exactly; default: config)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--flow-draws", args->flow_draws,
                  "(tau, mask, noise) draws per encoded observation (default: config)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--context-noise", args->context_noise,
                  "std of noise on the unmasked (context) action tokens in training, normalized "
                  "units (0: none, Alg. 2 exactly; default: config)")
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--aug-shift", args->aug_shift,
                  "random-shift augmentation in pixels per camera (0: off; default: config)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--ema", args->ema, "ema decay of the saved weights (0: none; default: config)")
      ->check(CLI::Range(0.0, 0.99999));
  cmd->add_option("--state-std-floor", args->state_std_floor,
                  "smallest state std of the normalizer (0: raw std; default: config)")
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--action-range-floor", args->action_range_floor,
                  "narrowest action quantile range of the normalizer, env action units (0: raw "
                  "range; default: config)")
      ->check(CLI::Range(0.0, 2.0));
  cmd->add_option("--keep-every", args->keep_every,
                  "also keep a snapshot checkpoint every this many steps (0: none; default: "
                  "config)")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--image-rotation", args->image_rotation,
                  "rotation of the training files' images from upright: 0 (ours), 180 (real "
                  "LIBERO files as stored); saved in the checkpoint (default: config)")
      ->check(CLI::IsMember({0, 180}));
  cmd->add_option("--vision-stem", args->vision_stem,
                  "vision patch features: patch (one strided conv) or conv (3x3 stride-2 convs); "
                  "default: config")
      ->check(CLI::IsMember({"patch", "conv"}));
  cmd->add_flag("--privileged-state", args->privileged_state,
                "diagnostic: append the simulator's object positions (obs/object_states) to the "
                "state, so the policy needs no vision to find the objects");
  cmd->add_option("--aux-object", args->aux_object,
                  "weight of an auxiliary loss that regresses the simulator's object positions "
                  "(obs/object_states) from the image tokens; training only, the policy needs no "
                  "object state (0: off; default: config)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--cameras", args->cameras,
                  "cameras the policy reads, the first of the data's (agentview, then wrist); 0: "
                  "a state-only policy with no vision (pair it with --privileged-state); default: "
                  "all of the data's")
      ->check(CLI::Range(0, 2));
  cmd->add_option("--init-vision", args->init_vision,
                  "start the vision encoder from a pretrained one (asyncvla pretrain-vision's "
                  "--out directory)")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--freeze-vision", args->freeze_vision,
                "keep the --init-vision encoder fixed (no gradients through it)");
  cmd->add_flag("--cache-vision", args->cache_vision,
                "with --freeze-vision and --aug-shift 0: compute the encoder's tokens of every "
                "frame once, so a step runs no vision forward");
  cmd->add_flag("--scene-token", args->scene_token,
                "add a scene token to the prefix: the --init-vision probe's estimates of where "
                "every object, the drawer and the gripper are, read from the image tokens (the "
                "probe is loaded with the encoder, and frozen with it)");
  cmd->add_option("--vision-lr-scale", args->vision_lr_scale,
                  "vision encoder learning rate as a fraction of --lr (default: config)")
      ->check(CLI::Range(0.0, 10.0));
  add_dist_flags(cmd, args->dist);
  add_device_flags(cmd, args->device);
  // the config fields each flag sets: a resume checks the given ones against the run's
  const std::vector<std::pair<std::string, std::vector<std::string>>> flag_fields = {
      {"--steps", {"train.steps"}},
      {"--batch", {"train.batch"}},
      {"--lr", {"train.lr"}},
      {"--seed", {"train.seed"}},
      {"--bf16", {"train.bf16"}},
      {"--vanilla", {"train.vanilla"}},
      {"--time-limit", {"train.time_limit_s"}},
      {"--sfm-share", {"train.sfm_share"}},
      {"--flow-draws", {"train.flow_draws"}},
      {"--context-noise", {"train.context_noise"}},
      {"--aug-shift", {"train.aug_shift"}},
      {"--ema", {"train.ema_decay"}},
      {"--state-std-floor", {"train.state_std_floor"}},
      {"--action-range-floor", {"train.action_range_floor"}},
      {"--keep-every", {"train.keep_every"}},
      {"--image-rotation", {"model.image_rotation"}},
      {"--vision-stem", {"model.vision_stem"}},
      {"--privileged-state", {"model.state_dim"}},
      {"--cameras", {"model.n_cam"}},
      {"--aux-object", {"train.aux_object_weight", "model.aux_object_dim"}},
      {"--init-vision", {"train.init_vision"}},
      {"--freeze-vision", {"train.freeze_vision"}},
      {"--cache-vision", {"train.cache_vision"}},
      {"--scene-token", {"model.scene_slots", "model.probe_yaw"}},
      {"--vision-lr-scale", {"train.vision_lr_scale"}}};
  return {cmd, [args, cmd, flag_fields]() {
            return run_data_parallel(args->dist, [&](const DistConfig& dist) {
              TrainOptions opt;
              opt.dist = dist;
              opt.device = apply_device_flags(args->device);
              opt.data = args->data;
              opt.config = args->config.empty() ? Config{} : load_config(args->config);
              TrainConfig& tc = opt.config.train;
              if (args->steps) tc.steps = *args->steps;
              if (args->batch) tc.batch = *args->batch;
              if (args->lr) tc.lr = *args->lr;
              if (args->seed) tc.seed = *args->seed;
              if (args->bf16) tc.bf16 = true;
              if (args->vanilla) tc.vanilla = true;
              if (args->sfm_share) tc.sfm_share = *args->sfm_share;
              if (args->flow_draws) tc.flow_draws = *args->flow_draws;
              if (args->aug_shift) tc.aug_shift = *args->aug_shift;
              if (args->context_noise) tc.context_noise = *args->context_noise;
              if (args->ema) tc.ema_decay = *args->ema;
              if (args->keep_every) tc.keep_every = *args->keep_every;
              if (args->image_rotation) opt.config.model.image_rotation = *args->image_rotation;
              if (!args->vision_stem.empty()) opt.config.model.vision_stem = args->vision_stem;
              if (args->privileged_state) {
                opt.config.model.state_dim = state_feature_dim + object_state_dim;
              }
              if (args->aux_object) {
                tc.aux_object_weight = *args->aux_object;
                opt.config.model.aux_object_dim = *args->aux_object > 0 ? object_state_dim : 0;
              }
              if (args->state_std_floor) tc.state_std_floor = *args->state_std_floor;
              if (args->action_range_floor) tc.action_range_floor = *args->action_range_floor;
              if (!args->init_vision.empty()) tc.init_vision = args->init_vision;
              if (args->freeze_vision) tc.freeze_vision = true;
              if (args->cache_vision) tc.cache_vision = true;
              if (args->scene_token) {
                AVLA_CHECK(!tc.init_vision.empty(), "train",
                           "--scene-token needs --init-vision (the probe it reads)");
                opt.config.model.scene_slots = pretrained_probe_slots(tc.init_vision);
                opt.config.model.probe_yaw = pretrained_probe_yaw(tc.init_vision);
              }
              if (args->vision_lr_scale) tc.vision_lr_scale = *args->vision_lr_scale;
              for (const auto& [flag, fields] : flag_fields) {
                if (cmd->get_option(flag)->count() > 0)
                  opt.given.insert(fields.begin(), fields.end());
              }
              if (!args->config.empty()) {
                const nlohmann::json all = to_json(opt.config);
                for (const auto& [section, values] : all.items()) {
                  for (const auto& [key, value] : values.items()) {
                    // the budget is extended by --steps and --time-limit alone; the cameras
                    // follow the data unless --cameras sets them
                    if (key != "steps" && key != "time_limit_s" && key != "n_cam") {
                      opt.given.insert(section + "." + key);
                    }
                  }
                }
              }
              if (args->time_limit) tc.time_limit_s = *args->time_limit;
              opt.out_dir = args->out;
              opt.resume = args->resume;
              opt.stop_after = args->stop_after;
              if (args->cameras >= 0) opt.config.model.n_cam = args->cameras;
              TrainResult r = train(opt);
              log_info("[train] done: {} steps, final loss {:.4f}", r.steps_done, r.final_loss);
              return 0;
            });
          }};
}

}  // namespace avla
