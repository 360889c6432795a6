#include "serve/openpi_protocol.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>

#include "data/state_features.h"
#include "util/error.h"

namespace avla {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

const MsgField* find_any(const MsgMap& msg, std::initializer_list<const char*> keys,
                         std::string* found) {
  for (const char* k : keys) {
    auto it = msg.find(k);
    if (it != msg.end()) {
      *found = k;
      return &it->second;
    }
  }
  return nullptr;
}

torch::ScalarType scalar_type(const std::string& dtype) {
  const std::string t = dtype.substr(1);
  if (t == "u1") return torch::kUInt8;
  if (t == "i1") return torch::kInt8;
  if (t == "b1") return torch::kBool;
  if (t == "i2") return torch::kInt16;
  if (t == "f2") return torch::kFloat16;
  if (t == "i4") return torch::kInt32;
  if (t == "f4") return torch::kFloat32;
  if (t == "i8") return torch::kInt64;
  if (t == "f8") return torch::kFloat64;
  return torch::kByte;  // u2, u4, u8: no torch type; callers reject them by dtype first
}

// the array as a tensor that owns its memory (little-endian host assumed, as x86 and arm64 are)
torch::Tensor to_tensor(const NdArray& a, const std::string& key) {
  const std::string t = a.dtype.substr(1);
  AVLA_CHECK(t != "u2" && t != "u4" && t != "u8", "request", "'{}': dtype {} is not supported", key,
             a.dtype);
  torch::Tensor out = torch::empty(a.shape, scalar_type(a.dtype));
  if (!a.data.empty()) std::memcpy(out.data_ptr(), a.data.data(), a.data.size());
  return out;
}

// an image field -> (H, W, 3) uint8: HWC or CHW, uint8 or float in [0, 1]
torch::Tensor image_from(const MsgField& f, const std::string& key) {
  AVLA_CHECK(f.kind == MsgField::Kind::Array, "request", "'{}' must be an image array, found {}",
             key, f.kind_name());
  const NdArray& a = f.array;
  AVLA_CHECK(a.shape.size() == 3 && (a.shape[2] == 3 || a.shape[0] == 3), "request",
             "'{}' has shape {}, expected (H, W, 3) or (3, H, W)", key, shape_str(a.shape));
  torch::Tensor img = to_tensor(a, key);
  if (a.shape[2] != 3) img = img.permute({1, 2, 0});
  AVLA_CHECK(img.size(0) >= 1 && img.size(1) >= 1 && img.size(0) <= 4096 && img.size(1) <= 4096,
             "request", "'{}' has shape {}, each side must be in [1, 4096]", key,
             shape_str(a.shape));
  if (img.scalar_type() == torch::kUInt8) return img.contiguous();
  AVLA_CHECK(img.is_floating_point(), "request",
             "'{}' has dtype {}, expected uint8 (|u1) or float in [0, 1]", key, a.dtype);
  img = img.to(torch::kFloat32);
  AVLA_CHECK(torch::isfinite(img).all().item<bool>(), "request", "'{}' contains NaN or Inf", key);
  return (img.clamp(0, 1) * 255).round().to(torch::kUInt8).contiguous();
}

}  // namespace

PolicyRequest parse_policy_request(const MsgMap& msg, int n_cam) {
  AVLA_CHECK(n_cam >= 0 && n_cam <= 2, "request",
             "the checkpoint has {} cameras; the protocol carries 0 to 2", n_cam);
  PolicyRequest req;
  std::string key;
  // a state-only checkpoint (n_cam 0) reads no image; a client may still send them
  const MsgField* main = find_any(
      msg, {"observation/image", "observation/agentview", "observation/agentview_rgb"}, &key);
  AVLA_CHECK(main != nullptr || n_cam == 0, "request",
             "missing 'observation/image' (the front camera; 'observation/agentview' also works)");
  if (n_cam >= 1) req.obs.images.push_back(image_from(*main, key));
  if (n_cam >= 2) {
    const MsgField* wrist = find_any(
        msg, {"observation/wrist_image", "observation/eye_in_hand", "observation/eye_in_hand_rgb"},
        &key);
    AVLA_CHECK(wrist != nullptr, "request",
               "missing 'observation/wrist_image' (the wrist camera; 'observation/eye_in_hand' "
               "also works)");
    req.obs.images.push_back(image_from(*wrist, key));
  }

  auto state = msg.find("observation/state");
  AVLA_CHECK(state != msg.end(), "request",
             "missing 'observation/state' (8 floats: ee position, ee axis-angle, 2 fingers)");
  AVLA_CHECK(state->second.kind == MsgField::Kind::Array, "request",
             "'observation/state' must be an array of 8 floats, found {}",
             state->second.kind_name());
  const NdArray& s = state->second.array;
  AVLA_CHECK(s.numel() == raw_state_dim && s.shape.size() <= 2, "request",
             "'observation/state' has shape {}, expected [{}] (ee position 3, ee axis-angle 3, "
             "fingers 2)",
             shape_str(s.shape), raw_state_dim);
  torch::Tensor st = to_tensor(s, "observation/state");
  AVLA_CHECK(st.is_floating_point() || st.scalar_type() == torch::kInt64 ||
                 st.scalar_type() == torch::kInt32,
             "request", "'observation/state' has dtype {}, expected float32 or float64", s.dtype);
  req.obs.state = st.reshape({raw_state_dim}).to(torch::kFloat32);
  AVLA_CHECK(torch::isfinite(st.to(torch::kFloat64)).all().item<bool>(), "request",
             "'observation/state' contains NaN or Inf");

  auto prompt = msg.find("prompt");
  AVLA_CHECK(prompt != msg.end(), "request", "missing 'prompt' (the task instruction)");
  AVLA_CHECK(prompt->second.kind == MsgField::Kind::Str, "request",
             "'prompt' must be a string, found {}", prompt->second.kind_name());
  req.obs.instruction = prompt->second.s;

  auto seed = msg.find("seed");
  if (seed != msg.end()) {
    AVLA_CHECK(seed->second.kind == MsgField::Kind::Int && seed->second.i >= 0, "request",
               "'seed' must be a non-negative integer");
    req.seed = static_cast<uint64_t>(seed->second.i);
  }
  return req;
}

std::string encode_policy_reply(const ActResult& r, double policy_infer_ms, double server_infer_ms,
                                double prev_total_ms) {
  const torch::Tensor actions = r.actions.to(torch::kFloat32).contiguous();  // (L, A)
  const int64_t L = actions.size(0);
  const torch::Tensor confidence = r.confidence.defined()
                                       ? r.confidence.to(torch::kFloat32).contiguous()
                                       : torch::full({L}, -1.0f);          // (L); -1: no rater
  const torch::Tensor regenerated = r.mask.to(torch::kBool).contiguous();  // (L)
  auto nd = [](const torch::Tensor& t, const char* dtype) {
    return make_ndarray(dtype, t.sizes().vec(), t.data_ptr(),
                        static_cast<size_t>(t.numel()) * t.element_size());
  };
  MsgWriter w;
  w.map(5);
  w.key("actions").array(nd(actions, "<f4"));
  w.key("policy_timing").map(1).key("infer_ms").f64(policy_infer_ms);
  w.key("server_timing").map(prev_total_ms >= 0 ? 2 : 1).key("infer_ms").f64(server_infer_ms);
  if (prev_total_ms >= 0) w.key("prev_total_ms").f64(prev_total_ms);
  w.key("confidence").array(nd(confidence, "<f4"));
  w.key("regenerated").array(nd(regenerated, "|b1"));
  return w.bytes();
}

std::string encode_metadata(const ServeMetadata& m) {
  MsgWriter w;
  w.map(15);
  w.key("server").str("asyncvla");
  w.key("checkpoint").str(m.checkpoint);
  w.key("mode").str(m.mode);
  w.key("threshold").f64(m.threshold);
  w.key("chunk_len").i64(m.chunk_len);
  w.key("action_dim").i64(m.action_dim);
  w.key("image_size").i64(m.image_size);
  w.key("n_cam").i64(m.n_cam);
  w.key("flow_steps").i64(m.flow_steps);
  w.key("has_rater").boolean(m.has_rater);
  // the modes this checkpoint can serve (async needs the rater)
  w.key("modes").list(m.has_rater ? 3 : 2).str("sfm").str("random");
  if (m.has_rater) w.str("async");
  w.key("step").i64(m.step);
  w.key("n_params").i64(m.n_params);
  w.key("image_orientation").str(m.image_orientation);
  w.key("image_rotation").i64(m.image_rotation);
  return w.bytes();
}

ServeMetadata decode_metadata(const MsgMap& msg) {
  ServeMetadata m;
  auto get = [&](const char* key, MsgField::Kind kind) -> const MsgField* {
    auto it = msg.find(key);
    return it != msg.end() && it->second.kind == kind ? &it->second : nullptr;
  };
  if (auto f = get("checkpoint", MsgField::Kind::Str)) m.checkpoint = f->s;
  if (auto f = get("mode", MsgField::Kind::Str)) m.mode = f->s;
  auto threshold = msg.find("threshold");
  if (threshold != msg.end() && threshold->second.is_number()) {
    m.threshold = threshold->second.number();
  }
  if (auto f = get("chunk_len", MsgField::Kind::Int)) m.chunk_len = static_cast<int>(f->i);
  if (auto f = get("action_dim", MsgField::Kind::Int)) m.action_dim = static_cast<int>(f->i);
  if (auto f = get("image_size", MsgField::Kind::Int)) m.image_size = static_cast<int>(f->i);
  if (auto f = get("n_cam", MsgField::Kind::Int)) m.n_cam = static_cast<int>(f->i);
  if (auto f = get("flow_steps", MsgField::Kind::Int)) m.flow_steps = static_cast<int>(f->i);
  if (auto f = get("has_rater", MsgField::Kind::Bool)) m.has_rater = f->b;
  if (auto f = get("step", MsgField::Kind::Int)) m.step = f->i;
  if (auto f = get("n_params", MsgField::Kind::Int)) m.n_params = f->i;
  if (auto f = get("image_orientation", MsgField::Kind::Str)) m.image_orientation = f->s;
  if (auto f = get("image_rotation", MsgField::Kind::Int))
    m.image_rotation = static_cast<int>(f->i);
  return m;
}

std::string encode_policy_request(const Observation& obs, std::optional<uint64_t> seed) {
  AVLA_CHECK(!obs.images.empty() && obs.images.size() <= 2, "request",
             "an openpi request carries 1 or 2 images, got {}", obs.images.size());
  auto image = [](const torch::Tensor& img) {
    const torch::Tensor t = img.to(torch::kUInt8).contiguous();  // (H, W, 3)
    return make_ndarray("|u1", t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.numel()));
  };
  const torch::Tensor state = obs.state.to(torch::kFloat64).contiguous();  // (8)
  MsgWriter w;
  w.map(obs.images.size() + 2 + (seed ? 1 : 0));
  w.key("observation/image").array(image(obs.images[0]));
  if (obs.images.size() > 1) w.key("observation/wrist_image").array(image(obs.images[1]));
  w.key("observation/state")
      .array(make_ndarray("<f8", state.sizes().vec(), state.data_ptr(),
                          static_cast<size_t>(state.numel()) * 8));
  w.key("prompt").str(obs.instruction);
  if (seed) w.key("seed").u64(*seed);
  return w.bytes();
}

ActResult decode_policy_reply(const MsgMap& msg, int action_dim) {
  auto it = msg.find("actions");
  AVLA_CHECK(it != msg.end() && it->second.kind == MsgField::Kind::Array, "reply",
             "missing array 'actions'");
  const NdArray& a = it->second.array;
  AVLA_CHECK(a.shape.size() == 2 && a.shape[0] >= 1 && a.shape[1] == action_dim, "reply",
             "'actions' has shape {}, expected (L, {})", shape_str(a.shape), action_dim);
  const int64_t L = a.shape[0];
  ActResult r;
  r.actions = to_tensor(a, "actions").to(torch::kFloat32);  // (L, A)
  AVLA_CHECK(torch::isfinite(r.actions).all().item<bool>(), "reply",
             "'actions' contains NaN or Inf");
  auto per_token = [&](const char* key) {
    auto f = msg.find(key);
    AVLA_CHECK(f->second.kind == MsgField::Kind::Array && f->second.array.numel() == L, "reply",
               "'{}' must hold {} values (one per action)", key, L);
    return to_tensor(f->second.array, key).reshape({L});
  };
  if (msg.count("confidence")) {
    torch::Tensor c = per_token("confidence").to(torch::kFloat32);
    if ((c >= 0).all().item<bool>()) r.confidence = c;  // -1: the server has no rater
  }
  r.mask = msg.count("regenerated") ? per_token("regenerated").to(torch::kBool)
                                    : torch::zeros({L}, torch::kBool);
  r.sfm_actions = r.actions;
  auto timing = msg.find("policy_timing/infer_ms");
  if (timing != msg.end() && timing->second.is_number())
    r.timings.total_ms = timing->second.number();
  return r;
}

}  // namespace avla
