// the deployable policy (paper alg. 1): load a checkpoint, then act(observation) -> action chunk.
// one call encodes the prefix once (the vl kv-cache), runs sfm from noise, rates the sfm chunk
// (when the checkpoint has a rater), chooses a mask (sfm: none; random: each token with
// probability 0.5; async: m_l = 1{p_l < threshold}, eq. 3), and when any token is masked runs afm
// on the same cache. observations are raw (any image size, unnormalized state); chunks come back in
// environment units.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "data/observation.h"
#include "model/backend.h"
#include "model/rater.h"

namespace avla {

enum class ActMode { Sfm, Random, Async };
ActMode parse_act_mode(const std::string& s);  // "sfm" | "random" | "async"
const char* act_mode_name(ActMode mode);

// the largest ActOptions::noise_scale the policy (and the cli flags) accept
constexpr double kMaxNoiseScale = 4.0;

struct ActOptions {
  ActMode mode = ActMode::Sfm;
  std::optional<int> n_steps;  // euler steps of each round (unset: the checkpoint's n_flow_steps)
  double random_mask_prob = 0.5;
  double threshold = 0.5;  // async: regenerate tokens whose confidence is below this
  // random and async mask only the chunk's first mask_window tokens, 1 .. chunk_len (unset: the
  // rater's window; the whole chunk without a rater or with a rater trained on it)
  std::optional<int> mask_window;
  uint64_t seed = 0;  // noise and random masks
  // scale of the starting noise of both rounds (1: the paper's N(0, I); below 1 samples closer to
  // the flow's mean path, 0 is deterministic). the generator draws are the same at every scale
  double noise_scale = 1.0;
  // the executed chunk's last dimension becomes -1 (open) or +1 (close) by its sign, as openvla's
  // libero evaluation does: a predicted 0.4 would otherwise close the fingers with 40 % force
  bool binarize_gripper = true;
};

struct ActTimings {  // of the whole call (all rows of a batch)
  double prefix_ms = 0, sfm_ms = 0, mask_ms = 0, afm_ms = 0, total_ms = 0;
};

struct ActResult {
  torch::Tensor actions;      // (L, A) final chunk, environment units (gripper binarized if asked)
  torch::Tensor sfm_actions;  // (L, A) first-round chunk, environment units
  torch::Tensor mask;         // (L) bool: regenerated tokens
  torch::Tensor confidence;   // (L) rater confidence of the sfm chunk; undefined without a rater
  ActTimings timings;
};

// alg. 1's rounds on a prepared batch, in normalized units (act_batch unnormalizes them)
struct ChunkRounds {
  torch::Tensor sfm;         // (B, L, A) first round
  torch::Tensor confidence;  // (B, L) rater confidence of sfm; undefined without a rater
  torch::Tensor mask;        // (B, L) bool: regenerated tokens
  torch::Tensor chunk;       // (B, L, A) final chunk (sfm where no token is masked)
  ActTimings timings;        // prefix_ms: the prefix encode only
};

class Policy {
 public:
  // the weights (and the rater's) live on device; observations come in and chunks go out on the
  // cpu, whatever the device. precision: what our cpu kernels compute the linear layers in
  // (model/backend.h; bf16 needs the cpu device and avx512-bf16)
  explicit Policy(const std::string& checkpoint_dir, torch::Device device = torch::kCPU,
                  Precision precision = Precision::Fp32);
  ActResult act(const Observation& obs, const ActOptions& options);
  // several observations in one batched call (lockstep evaluation, many clients). row b draws its
  // noise and random mask from its own generator seeded with seeds[b], in the order act() draws
  // them, so a row's chunk does not depend on the other rows (up to float rounding of batched
  // matmuls). act(obs, o) is act_batch({obs}, o, {o.seed}).
  std::vector<ActResult> act_batch(const std::vector<Observation>& obs, const ActOptions& options,
                                   const std::vector<uint64_t>& seeds);
  // alg. 1 (the one implementation; act_batch and the rater's offline evaluation call it) on a
  // prepared batch of B rows (on any device) with one generator each: prefix once, sfm from noise,
  // rate, mask by options.mode, afm on the masked tokens from fresh noise, every step on the same
  // kv-cache. row b draws its starting noise, its random mask and its second noise from gens[b], in
  // that order. the rounds come back on the cpu
  ChunkRounds act_prepared(const ObservationBatch& batch, const ActOptions& options,
                           std::vector<at::Generator>& gens);
  const Config& config() const { return ck_.config; }
  torch::Device device() const { return device_; }
  Precision precision() const { return precision_; }
  const Tokenizer& tokenizer() const { return *ck_.tokenizer; }
  // the rater's configuration (window, label space); throws without a rater
  const RaterConfig& rater_config() const;
  VLAImpl& model() { return *ck_.model; }
  const Normalizer& normalizer() const { return ck_.normalizer; }
  // trained with --privileged-state: observations carry the object state after the robot state
  bool privileged_state() const;
  // the checkpoint's observation encoder (data/observation.h); valid while this policy is
  ObservationEncoder observation_encoder() const;
  // observation -> model batch of one (rotate, resize, normalize, tokenize); errors name the field
  ObservationBatch prepare(const Observation& obs) const;
  // observations -> one model batch, row b = prepare(obs[b])
  ObservationBatch prepare(const std::vector<Observation>& obs) const;
  bool has_rater() const { return !rater_.is_empty(); }
  // the tokens random and async may mask under these options: 1 .. chunk_len
  int64_t mask_window(const ActOptions& options) const;
  // the euler steps of each round under these options
  int flow_steps(const ActOptions& options) const;
  // throws when options cannot run on this checkpoint (async without a rater); act() calls it
  // first, callers may call it before starting long work
  void check_options(const ActOptions& options) const;

 private:
  std::string dir_;
  torch::Device device_;
  Precision precision_;
  Checkpoint ck_;
  ConfidenceRater rater_{nullptr};  // loaded when the checkpoint has rater.safetensors
};

}  // namespace avla
