#include "serve/policy_service.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/json_file.h"
#include "io/safetensors.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

namespace {

// the training step a checkpoint holds: its train state's (a run's directory) or snapshot.json's
// (a snapshot); -1 when neither is there
int64_t checkpoint_step(const std::string& dir) {
  const std::string state = dir + "/train_state.safetensors";
  if (std::filesystem::exists(state)) {
    if (const auto step = metadata_int(read_safetensors_metadata(state), "step", state)) {
      AVLA_CHECK(*step >= 0, "serve", "{}: metadata step {} is negative", state, *step);
      return *step;
    }
  }
  const std::string snapshot = dir + "/snapshot.json";
  if (std::filesystem::exists(snapshot)) {
    return read_json_file(snapshot, "serve").value("step", int64_t{-1});
  }
  return -1;
}

}  // namespace

PolicyService::PolicyService(const std::string& checkpoint_dir, const ActOptions& options,
                             uint64_t first_seed, torch::Device device, Precision precision)
    : dir_(checkpoint_dir),
      policy_(checkpoint_dir, device, precision),
      options_(options),
      next_seed_(first_seed) {
  policy_.check_options(options_);  // async without a rater fails at start-up, not per request
  step_ = checkpoint_step(checkpoint_dir);
  for (const auto& p : policy_.model().parameters()) n_params_ += p.numel();
}

std::string PolicyService::metadata() const {
  const ModelConfig& mc = policy_.config().model;
  ServeMetadata m;
  m.checkpoint = std::filesystem::path(dir_).lexically_normal().filename().string();
  m.mode = act_mode_name(options_.mode);
  m.threshold = options_.threshold;
  m.chunk_len = mc.chunk_len;
  m.action_dim = mc.action_dim;
  m.image_size = mc.image_size;
  m.n_cam = mc.n_cam;
  m.flow_steps = policy_.flow_steps(options_);
  m.has_rater = policy_.has_rater();
  m.image_rotation = mc.image_rotation;
  m.step = step_;
  m.n_params = n_params_;
  return encode_metadata(m);
}

std::vector<ServerReply> PolicyService::handle(const std::vector<ServerRequest>& requests) {
  Timer server_timer;
  std::vector<ServerReply> replies(requests.size());
  // decode and check each request on its own, so a bad one is answered alone: the parser refuses
  // every image, state and prompt that act_batch would (it prepares each row once, below)
  std::vector<size_t> rows;
  std::vector<Observation> observations;
  std::vector<uint64_t> seeds;
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      const std::string& bytes = *requests[i].bytes;
      PolicyRequest req = parse_policy_request(
          decode_msg_map(bytes.data(), bytes.size(), "request"), policy_.config().model.n_cam);
      rows.push_back(i);
      observations.push_back(std::move(req.obs));
      seeds.push_back(req.seed ? *req.seed : next_seed_++);
    } catch (const Error& e) {
      replies[i] = {false, e.what()};
    }
  }
  if (rows.empty()) return replies;
  std::vector<ActResult> results;
  try {
    results = policy_.act_batch(observations, options_, seeds);
  } catch (const std::exception& e) {
    log_info("[serve] policy failed on a batch of {}: {}", rows.size(), e.what());
    for (size_t i : rows) replies[i] = {false, "[serve] the policy failed on this request"};
    return replies;
  }
  const double server_ms = server_timer.elapsed_ms();
  for (size_t j = 0; j < rows.size(); ++j) {
    const size_t i = rows[j];
    replies[i] = {true, encode_policy_reply(results[j], results[j].timings.total_ms, server_ms,
                                            requests[i].prev_total_ms)};
  }
  return replies;
}

}  // namespace avla
