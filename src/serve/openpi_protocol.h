// openpi's policy messages as openpi's LIBERO example exchanges them, both ways:
//   request  {"observation/image": uint8 (H, W, 3), "observation/wrist_image": uint8 (H, W, 3),
//             "observation/state": (8) float32/float64, "prompt": str}  (+ optional "seed": int)
//   reply    {"actions": float32 (L, 7), "policy_timing": {"infer_ms"},
//             "server_timing": {"infer_ms", "prev_total_ms" from the second request on},
//             "confidence": float32 (L), "regenerated": bool (L)}   (the last two beyond openpi)
// images may be any size (the policy resizes); (3, H, W) and float images in [0, 1] are accepted
// as openpi's own policies accept them. our camera names work too: observation/agentview and
// observation/eye_in_hand. images on the wire are upright (openpi's LIBERO client rotates LIBERO's
// upside-down renders before sending); the policy turns them into the checkpoint's orientation.
#pragma once

#include <optional>
#include <string>

#include "policy/policy.h"
#include "serve/msgpack_numpy.h"

namespace avla {

struct PolicyRequest {
  Observation obs;
  std::optional<uint64_t> seed;  // noise seed; absent: the server picks one
};

// the request's keys -> observation; errors (avla::Error "request") name the key, its dtype or
// shape, or NaN in the state
PolicyRequest parse_policy_request(const MsgMap& msg, int n_cam);

// a chunk of act() -> reply bytes. prev_total_ms < 0 leaves it out (the first request)
std::string encode_policy_reply(const ActResult& r, double policy_infer_ms, double server_infer_ms,
                                double prev_total_ms);

// what the server sends when a connection opens
struct ServeMetadata {
  std::string checkpoint, mode;
  double threshold = 0.5;
  int chunk_len = 0, action_dim = 0, image_size = 0, n_cam = 0, flow_steps = 0;
  bool has_rater = false;
  int64_t step = -1;                          // training steps of the checkpoint (-1: unknown)
  int64_t n_params = 0;                       // policy weights (the rater's not counted)
  std::string image_orientation = "upright";  // of the images on the wire
  int image_rotation = 0;  // of the checkpoint's training images (the policy turns the wire's)
};
std::string encode_metadata(const ServeMetadata& m);
ServeMetadata decode_metadata(const MsgMap& msg);

// the client side: an observation as openpi's LIBERO example sends it (+ our seed)
std::string encode_policy_request(const Observation& obs, std::optional<uint64_t> seed);
// reply -> chunk: actions (L, action_dim), and confidence / regenerated (L) when present (L is
// the reply's own); errors name the missing or malformed key
ActResult decode_policy_reply(const MsgMap& msg, int action_dim);

}  // namespace avla
