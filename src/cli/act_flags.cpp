// the policy flags of eval, infer and serve: alg. 1's settings under one name and one default
// each (docs/DECISIONS.md: the default mode)
#include "cli/commands.h"
#include "model/rater.h"

namespace avla {

void add_act_flags(CLI::App* cmd, ActFlags& flags) {
  cmd->add_option("--mode", flags.mode,
                  "auto (async when the checkpoint has a rater, else sfm) | sfm | random (AFM on "
                  "a random share of the tokens) | async (AFM on the tokens the rater doubts)")
      ->check(CLI::IsMember({"auto", "sfm", "random", "async"}));
  cmd->add_option("--threshold", flags.act.threshold,
                  "async: regenerate tokens with confidence below this")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--random-prob", flags.act.random_mask_prob,
                  "random: regenerate each token with this probability")
      ->check(CLI::Range(0.0, 1.0));
  add_optional(cmd, "--mask-window", flags.act.mask_window,
               "random/async regenerate only among the chunk's first N tokens, 1 .. chunk length "
               "(default: the rater's window, see train-rater --window; the whole chunk without "
               "a rater)")
      ->check(CLI::Range(1, 1 << 20));
  add_optional(cmd, "--flow-steps", flags.act.n_steps,
               "Euler steps of each flow round (default: the checkpoint's n_flow_steps)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--noise-scale", flags.act.noise_scale,
                  "scale of both rounds' starting noise (1: N(0, I) as in the paper; 0: "
                  "deterministic)")
      ->check(CLI::Range(0.0, kMaxNoiseScale));
  cmd->add_option("--gripper", flags.gripper,
                  "binary: execute the gripper command by its sign (-1/+1); continuous: as "
                  "predicted")
      ->check(CLI::IsMember({"binary", "continuous"}));
}

ActOptions act_options(const ActFlags& flags, const std::string& ckpt) {
  ActOptions act = flags.act;
  if (flags.mode == "auto") {
    act.mode = !ckpt.empty() && has_rater(ckpt) ? ActMode::Async : ActMode::Sfm;
  } else {
    act.mode = parse_act_mode(flags.mode);
  }
  act.binarize_gripper = flags.gripper == "binary";
  return act;
}

}  // namespace avla
