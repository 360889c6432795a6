// a policy checkpoint is a directory: config.json, model.safetensors, norm_stats.json,
// tokenizer.json (+ rater.json and rater.safetensors once a rater is trained; a training run adds
// train_state.safetensors, src/train/train_state.h). every file is written atomically. this is
// the side a policy, an evaluator or a server needs: it never reaches train/ or sim/.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "data/normalizer.h"
#include "model/config.h"
#include "model/tokenizer.h"
#include "model/vla.h"

namespace avla {

struct Checkpoint {
  Config config;
  VLA model{nullptr};
  Normalizer normalizer;
  std::unique_ptr<Tokenizer> tokenizer;
};

void save_checkpoint(const std::string& dir, const Config& config, VLAImpl& model,
                     const Normalizer& normalizer, const Tokenizer& tokenizer);

// strict: every file must exist and every tensor must match the config's shapes.
Checkpoint load_checkpoint(const std::string& dir);

}  // namespace avla
