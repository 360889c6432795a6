// the policy behind `asyncvla serve`: decodes a batch of openpi requests, runs the valid ones as
// one batched Policy::act_batch call (alg. 1 with the server's mode and threshold), and encodes
// each reply. a request that cannot be decoded gets its own one-line error; the others in its
// batch are still answered.
#pragma once

#include <string>
#include <vector>

#include "policy/policy.h"
#include "serve/openpi_protocol.h"
#include "serve/ws_server.h"

namespace avla {

class PolicyService {
 public:
  // options: mode, threshold, flow steps, gripper; first_seed: noise seeds for requests without
  // one count up from here
  PolicyService(const std::string& checkpoint_dir, const ActOptions& options,
                uint64_t first_seed = 0, torch::Device device = torch::kCPU,
                Precision precision = Precision::Fp32);

  std::vector<ServerReply> handle(const std::vector<ServerRequest>& requests);
  std::string metadata() const;
  Policy& policy() { return policy_; }

 private:
  std::string dir_;
  Policy policy_;
  ActOptions options_;
  uint64_t next_seed_;
  int64_t step_ = -1, n_params_ = 0;
};

}  // namespace avla
