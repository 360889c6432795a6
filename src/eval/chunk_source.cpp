#include "eval/chunk_source.h"

#include <map>
#include <tuple>

#include "serve/openpi_protocol.h"
#include "serve/ws_client.h"
#include "sim/env.h"
#include "sim/expert.h"
#include "util/error.h"

namespace avla {

namespace {

constexpr int action_dim = static_cast<int>(std::tuple_size<sim::Action>::value);

// the checkpoint in this process: one batched act() for every row
class PolicySource : public ChunkSource {
 public:
  explicit PolicySource(const EvalOptions& o)
      : policy_(std::make_unique<Policy>(o.ckpt, o.device, o.precision)), options_(o.act) {
    policy_->check_options(options_);  // before any episode runs
    chunk_len = policy_->config().model.chunk_len;
    image_size = policy_->config().model.image_size;
    privileged_state = policy_->privileged_state();
    reads_images = policy_->config().model.n_cam > 0;
    mask_window = static_cast<int>(policy_->mask_window(options_));
    mode = act_mode_name(options_.mode);
    threshold = options_.threshold;
    precision = precision_name(policy_->precision());
  }

  std::vector<ActResult> act(const std::vector<ChunkRow>& rows,
                             const std::string& instruction) override {
    std::vector<Observation> observations;
    std::vector<uint64_t> seeds;
    for (const ChunkRow& row : rows) {
      observations.push_back(policy_observation(*row.observation, instruction,
                                                policy_->config().model.n_cam, privileged_state));
      seeds.push_back(row.seed);
    }
    return policy_->act_batch(observations, options_, seeds);
  }

 private:
  std::unique_ptr<Policy> policy_;
  ActOptions options_;
};

// an openpi-protocol server: one request per row, in turn
class RemoteSource : public ChunkSource {
 public:
  explicit RemoteSource(const EvalOptions& o) {
    AVLA_CHECK(o.act.noise_scale == 1, "eval",
               "--noise-scale {} has no effect with --server: start the server with it",
               o.act.noise_scale);
    client_ = std::make_unique<WsClient>(o.server, o.api_key);
    const ServeMetadata m = decode_metadata(client_->metadata());
    chunk_len = m.chunk_len;                             // 0: a server that does not say
    image_size = m.image_size > 0 ? m.image_size : 224;  // openpi's clients send 224
    mode = m.mode.empty() ? "server" : m.mode;
    threshold = m.threshold;
    n_cam_ = m.n_cam > 0 ? m.n_cam : 2;  // a server that does not say takes both
  }

  std::vector<ActResult> act(const std::vector<ChunkRow>& rows,
                             const std::string& instruction) override {
    std::vector<ActResult> out;
    for (const ChunkRow& row : rows) {
      const Observation obs = policy_observation(*row.observation, instruction, n_cam_, false);
      out.push_back(decode_policy_reply(client_->request_map(encode_policy_request(obs, row.seed)),
                                        action_dim));
    }
    return out;
  }

 private:
  std::unique_ptr<WsClient> client_;
  int n_cam_ = 2;
};

// diagnostics without a policy: chunks of one action, the scripted expert's (made from the
// environment's physics, exactly as sim collect makes them) or zeros
class ScriptedSource : public ChunkSource {
 public:
  explicit ScriptedSource(const EvalOptions& o) : expert_(o.scripted == "expert") {
    AVLA_CHECK(o.scripted == "expert" || o.scripted == "zero", "eval",
               "--scripted must be expert or zero, got '{}'", o.scripted);
    AVLA_CHECK(o.ckpt.empty() && o.server.empty(), "eval",
               "--scripted runs without a policy: drop --ckpt and --server");
    chunk_len = 1;
    image_size = 64;
    mode = "scripted_" + o.scripted;
    threshold = o.act.threshold;
  }

  void start_episode(int slot, const sim::Task& task, sim::Env& env, uint64_t seed) override {
    if (!expert_) return;
    sim::ExpertConfig config;
    config.scale = env.config().controller;
    experts_[slot] = std::make_unique<sim::Expert>(task, env.layout(), seed, config);
  }

  std::vector<ActResult> act(const std::vector<ChunkRow>& rows, const std::string&) override {
    std::vector<ActResult> out;
    for (const ChunkRow& row : rows) {  // one action (1, 7) in float64, as the expert made it
      sim::Action a{};
      if (expert_) a = experts_.at(row.slot)->act(row.env->physics());
      ActResult r;
      r.actions = torch::tensor(std::vector<double>(a.begin(), a.end()), torch::kFloat64)
                      .reshape({1, action_dim});
      r.sfm_actions = r.actions;
      r.mask = torch::zeros({1}, torch::kBool);
      out.push_back(std::move(r));
    }
    return out;
  }

 private:
  bool expert_;
  std::map<int, std::unique_ptr<sim::Expert>> experts_;
};

}  // namespace

std::unique_ptr<ChunkSource> make_chunk_source(const EvalOptions& o) {
  if (!o.scripted.empty()) return std::make_unique<ScriptedSource>(o);
  AVLA_CHECK(o.ckpt.empty() != o.server.empty(), "eval",
             "give either --ckpt (a checkpoint) or --server (ws://HOST:PORT), not {}",
             o.ckpt.empty() ? "neither" : "both");
  if (!o.ckpt.empty()) return std::make_unique<PolicySource>(o);
  return std::make_unique<RemoteSource>(o);
}

}  // namespace avla
