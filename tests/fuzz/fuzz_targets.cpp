#include "fuzz/fuzz_targets.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "data/libero_file.h"
#include "data/oxe_datasets.h"
#include "data/rlds.h"
#include "data/synthetic.h"
#include "io/atomic_file.h"
#include "io/image_decode.h"
#include "io/safetensors.h"
#include "io/tensor_file.h"
#include "io/tf_example.h"
#include "io/tfrecord.h"
#include "model/config.h"
#include "model/rater.h"
#include "model/tokenizer.h"
#include "policy/policy.h"
#include "serve/openpi_protocol.h"
#include "train/trainer.h"
#include "util/error.h"

namespace avla::fuzz {

namespace {

// a broken invariant of an accepted input: a finding, reported like a crash
#define FUZZ_EXPECT(cond)                                                                      \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// a scratch directory of this process, removed at exit
const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("asyncvla_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::filesystem::remove_all(scratch_dir()); });
    return d;
  }();
  return dir;
}

// ---- safetensors: header json, offsets, dtypes, shapes; then tensors and a strict load

// the module a checkpoint's tensors are strictly loaded into (weight (2, 3), bias (2))
torch::nn::Linear& strict_target() {
  static torch::nn::Linear linear(3, 2);
  return linear;
}

bool run_safetensors(const uint8_t* data, size_t size) {
  try {
    SafeTensors st = SafeTensors::parse(as_string(data, size), "fuzz.safetensors");
    for (const auto& name : st.names()) {
      const TensorInfo& info = st.info(name);
      FUZZ_EXPECT(info.numel() >= 0);
      FUZZ_EXPECT(static_cast<size_t>(info.numel()) * dtype_size(info.dtype) == info.nbytes);
      FUZZ_EXPECT(info.nbytes == 0 || st.data(name) != nullptr);
    }
    TensorMap tensors = tensor_map_from(st);
    FUZZ_EXPECT(tensors.size() == st.names().size());
    torch::NoGradGuard no_grad;
    load_state_strict(*strict_target(), tensors, "fuzz.safetensors");
    return true;
  } catch (const Error&) {
    return false;
  }
}

NamedBytes seeds_safetensors() {
  const float weight[6] = {1, 2, 3, 4, 5, 6}, bias[2] = {-1, 1};
  const std::string linear =
      serialize_safetensors({{"bias", DType::F32, {2}, bias, sizeof(bias)},
                             {"weight", DType::F32, {2, 3}, weight, sizeof(weight)}},
                            {{"step", "12"}});
  return {{"linear.safetensors", linear}};
}

// ---- tfrecord framing (RLDS / TFDS shards): every accepted file re-encodes to the same bytes

bool run_tfrecord(const uint8_t* data, size_t size) {
  try {
    const std::string bytes = as_string(data, size);
    const std::vector<std::string> records = parse_tfrecords(bytes, "fuzz.tfrecord");
    FUZZ_EXPECT(encode_tfrecords(records) == bytes);
    return true;
  } catch (const Error&) {
    return false;
  }
}

NamedBytes seeds_tfrecord() {
  return {{"three_records.tfrecord",
           encode_tfrecords({"an example", "", std::string("\0\x01\xff binary", 10)})}};
}

// ---- one RLDS episode record (tf.train.Example) of Bridge's layout, through the Example parser,
// the step-count checks, JPEG decoding and the OXE mapping

const RldsInfo& fuzz_bridge_info() {
  static const RldsInfo info = [] {
    RldsInfo i;
    i.dir = "fuzz";
    i.name = "bridge_dataset";
    auto add = [&](const std::string& key, RldsFeature::Type type, const std::string& dtype,
                   std::vector<int64_t> shape) {
      i.features[key] = {key, type, dtype, std::move(shape), true};
    };
    add("steps/action", RldsFeature::Type::Tensor, "float32", {7});
    add("steps/observation/state", RldsFeature::Type::Tensor, "float32", {7});
    add("steps/observation/image_0", RldsFeature::Type::Image, "uint8", {8, 8, 3});
    add("steps/language_instruction", RldsFeature::Type::Text, "string", {});
    return i;
  }();
  return info;
}

bool run_rlds_episode(const uint8_t* data, size_t size) {
  try {
    const RldsInfo& info = fuzz_bridge_info();
    const RldsEpisode ep = parse_rlds_episode(info, as_string(data, size), "fuzz: record 0");
    const OxeEpisode e = map_oxe_episode(oxe_dataset(info.name, "fuzz"), info, ep);
    FUZZ_EXPECT(e.actions.size(0) == ep.n_steps && e.raw_state.size(0) == ep.n_steps);
    FUZZ_EXPECT(torch::isfinite(e.actions).all().item<bool>());
    FUZZ_EXPECT(e.actions.select(1, 6).abs().eq(1.0).all().item<bool>());
    FUZZ_EXPECT(e.cameras.size() == 1 && e.cameras[0].size(0) == ep.n_steps);
    return true;
  } catch (const Error&) {
    return false;
  }
}

NamedBytes seeds_rlds_episode() {
  const int T = 3;
  Example ex;
  ex["steps/action"].kind = ExampleFeature::Kind::Float;
  ex["steps/observation/state"].kind = ExampleFeature::Kind::Float;
  for (int t = 0; t < T; ++t) {
    for (float v : {0.01f * t, -0.02f, 0.0f, 0.1f, 0.0f, -0.1f, t == 1 ? 0.0f : 1.0f}) {
      ex["steps/action"].floats.push_back(v);
    }
    for (float v : {0.3f, 0.0f, 0.2f, 0.1f * t, -0.2f, 1.0f, 0.5f}) {
      ex["steps/observation/state"].floats.push_back(v);
    }
    const std::vector<uint8_t> rgb(8 * 8 * 3, static_cast<uint8_t>(40 * t));
    ex["steps/observation/image_0"].bytes.push_back(encode_jpeg(rgb.data(), 8, 8, 90));
    ex["steps/language_instruction"].bytes.push_back("put the carrot on the plate");
  }
  return {{"three_steps.example", encode_example(ex)}};
}

// ---- config.json and rater.json

bool run_config(const uint8_t* data, size_t size) {
  const nlohmann::json j =
      nlohmann::json::parse(data, data + size, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return false;  // not json: json_file.h names the file and nlohmann's reason
  bool accepted = false;
  try {
    Config c = config_from_json(j, "fuzz/config.json");
    c.model.validate();
    c.train.validate();
    FUZZ_EXPECT(c.model.prefix_len() > 0);
    accepted = true;
  } catch (const Error&) {
  }
  try {
    RaterConfig r = rater_config_from_json(j, "fuzz/rater.json");
    r.validate();
    accepted = true;
  } catch (const Error&) {
  }
  return accepted;
}

NamedBytes seeds_config() {
  Config tiny;
  tiny.model.d_model = 64;
  tiny.model.vocab_size = 12;
  Config conv = tiny;
  conv.model.vision_stem = "conv";
  return {{"config.json", to_json(tiny).dump(2)},
          {"config_conv_stem.json", to_json(conv).dump(2)},
          {"rater.json", to_json(RaterConfig{}).dump(2)}};
}

// ---- the tokenizer: arbitrary instruction text, and tokenizer.json

const WordTokenizer& trained_tokenizer() {
  static const WordTokenizer tok =
      WordTokenizer::build({"put the red cube in the bowl", "open the top drawer of the cabinet",
                            "pick up the green cylinder and place it in the basket"});
  return tok;
}

void check_encoding(const Tokenizer& tok, const std::string& text, int max_len) {
  const TokenizedText t = tok.encode(text, max_len);
  FUZZ_EXPECT(t.ids.size() == static_cast<size_t>(max_len));
  FUZZ_EXPECT(t.mask.size() == static_cast<size_t>(max_len));
  FUZZ_EXPECT(t.n_truncated >= 0);
  bool padding = false;
  for (int i = 0; i < max_len; ++i) {
    FUZZ_EXPECT(t.ids[i] >= 0 && t.ids[i] < tok.vocab_size());
    FUZZ_EXPECT(t.mask[i] == 0 || t.mask[i] == 1);
    // real tokens first, then padding only
    if (t.mask[i] == 0) padding = true;
    FUZZ_EXPECT(!padding || (t.mask[i] == 0 && t.ids[i] == WordTokenizer::kPadId));
  }
}

bool run_tokenizer(const uint8_t* data, size_t size) {
  // the first byte picks the length, the rest is the text
  const int max_len = size > 0 ? 1 + data[0] % 40 : 8;
  const std::string text = size > 0 ? as_string(data + 1, size - 1) : std::string();
  check_encoding(trained_tokenizer(), text, max_len);
  const nlohmann::json j =
      nlohmann::json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return true;  // plain text: encoded above
  try {
    const WordTokenizer tok = WordTokenizer::from_json(j, "fuzz/tokenizer.json");
    FUZZ_EXPECT(tok.vocab_size() >= 2);
    check_encoding(tok, "put the red cube in the bowl", max_len);
    return true;
  } catch (const Error&) {
    return false;
  }
}

NamedBytes seeds_tokenizer() {
  const std::string path = (scratch_dir() / "tokenizer.json").string();
  trained_tokenizer().save(path);
  return {{"instruction.txt", std::string(1, '\x0f') + "put the red cube in the bowl"},
          {"unknown_words.txt", std::string(1, '\x03') + "Stack the PURPLE pyramid, now!"},
          {"tokenizer.json", std::string(1, '\x08') + read_file(path)}};
}

// ---- a LIBERO / robomimic hdf5 file, from memory through hdf5's core driver

bool run_libero(const uint8_t* data, size_t size) {
  try {
    const LiberoFile f = read_libero_image(as_string(data, size), "fuzz.hdf5");
    FUZZ_EXPECT(!f.demos.empty());
    for (const auto& d : f.demos) {
      const int64_t T = d.length();
      FUZZ_EXPECT(T > 0);
      FUZZ_EXPECT(d.agentview_rgb.size(0) == T && d.eye_in_hand_rgb.size(0) == T);
      FUZZ_EXPECT(d.ee_states.size(0) == T && d.gripper_states.size(0) == T);
      FUZZ_EXPECT(torch::isfinite(d.actions).all().item<bool>());
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

NamedBytes seeds_libero() {
  const int64_t T = 3;
  LiberoDemo demo;
  demo.actions = torch::linspace(-1, 1, T * 7, torch::kFloat64).reshape({T, 7});
  demo.agentview_rgb =
      torch::arange(T * 8 * 8 * 3).remainder(256).to(torch::kUInt8).reshape({T, 8, 8, 3});
  demo.eye_in_hand_rgb = demo.agentview_rgb.flip(1).contiguous();
  demo.ee_states = torch::zeros({T, 6}, torch::kFloat64);
  demo.gripper_states = torch::full({T, 2}, 0.04, torch::kFloat64);
  const std::string path = (scratch_dir() / "seed_demo.hdf5").string();
  write_libero_file(path, R"({"language_instruction": "put the red cube in the bowl"})", "{}",
                    {demo, demo});
  return {{"two_demos.hdf5", read_file(path)}};
}

// ---- the server's request decoder: msgpack -> openpi request -> the policy's model input

// an untrained tiny checkpoint (one step on synthetic data), made once per process
Policy& tiny_policy() {
  static Policy policy = [] {
    const std::string data = (scratch_dir() / "data").string();
    write_synthetic_dataset(data, {1, 1, 32, 11, 0.05});
    TrainOptions opt;
    opt.data = {data};
    opt.config.model.image_size = 32;
    opt.config.model.d_model = 32;
    opt.config.model.n_head = 2;
    opt.config.model.n_kv_head = 1;
    opt.config.model.d_ff = 64;
    opt.config.model.n_layer = 1;
    opt.config.model.vision_dim = 16;
    opt.config.model.vision_heads = 2;
    opt.config.model.vision_ff = 32;
    opt.config.model.vision_layers = 1;
    opt.config.train.steps = 1;
    opt.out_dir = (scratch_dir() / "ckpt").string();
    train(opt);
    return Policy(opt.out_dir);
  }();
  return policy;
}

bool run_request(const uint8_t* data, size_t size) {
  try {
    const MsgMap msg = decode_msg_map(reinterpret_cast<const char*>(data), size, "fuzz request");
    const PolicyRequest req = parse_policy_request(msg, 2);
    FUZZ_EXPECT(req.obs.images.size() == 2);
    for (const auto& image : req.obs.images) {
      FUZZ_EXPECT(image.dim() == 3 && image.size(2) == 3 && image.scalar_type() == torch::kUInt8);
    }
    FUZZ_EXPECT(req.obs.state.numel() == 8);
    // what the server computes from it before the model runs
    Policy& policy = tiny_policy();
    const ObservationBatch batch = policy.prepare(req.obs);
    const ModelConfig& mc = policy.config().model;
    FUZZ_EXPECT(batch.images.sizes() ==
                torch::IntArrayRef({1, 2, 3, mc.image_size, mc.image_size}));
    FUZZ_EXPECT(torch::isfinite(batch.state).all().item<bool>());
    return true;
  } catch (const Error&) {
    return false;
  }
}

NamedBytes seeds_request() {
  Observation obs;
  obs.images = {torch::full({16, 16, 3}, 90, torch::kUInt8),
                torch::full({8, 12, 3}, 7, torch::kUInt8)};
  obs.state = torch::linspace(-0.5, 0.5, 8);
  obs.instruction = "put the red cube in the bowl";
  return {{"request.msgpack", encode_policy_request(obs, 7)},
          {"request_no_seed.msgpack", encode_policy_request(obs, std::nullopt)}};
}

// ---- the client's side (eval --server): metadata and reply frames from a server

bool run_reply(const uint8_t* data, size_t size) {
  try {
    const MsgMap msg = decode_msg_map(reinterpret_cast<const char*>(data), size, "fuzz reply");
    if (msg.count("actions") == 0) {
      // lenient on purpose: openpi servers send any dict as metadata (often an empty one)
      const ServeMetadata m = decode_metadata(msg);
      FUZZ_EXPECT(m.threshold == m.threshold || msg.count("threshold") != 0);
      return true;
    }
    const ActResult r = decode_policy_reply(msg, 7);
    FUZZ_EXPECT(r.actions.dim() == 2 && r.actions.size(1) == 7);
    const int64_t L = r.actions.size(0);
    FUZZ_EXPECT(!r.mask.defined() || r.mask.numel() == L);
    FUZZ_EXPECT(!r.confidence.defined() || r.confidence.numel() == L);
    return true;
  } catch (const Error&) {
    return false;
  }
}

NamedBytes seeds_reply() {
  ActResult r;
  r.actions = torch::linspace(-1, 1, 10 * 7).reshape({10, 7});
  r.sfm_actions = r.actions;
  r.mask = torch::arange(10).remainder(3).eq(0);
  r.confidence = torch::linspace(0.1, 0.9, 10);
  ServeMetadata m;
  m.checkpoint = "runs/demo";
  m.mode = "async";
  m.chunk_len = 10;
  m.action_dim = 7;
  m.image_size = 64;
  m.n_cam = 2;
  m.flow_steps = 10;
  m.has_rater = true;
  return {{"reply.msgpack", encode_policy_reply(r, 12.5, 14.0, 30.0)},
          {"metadata.msgpack", encode_metadata(m)}};
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"safetensors", "SafeTensors::parse + tensor_map_from + load_state_strict", run_safetensors,
       seeds_safetensors},
      {"config", "config_from_json / rater_config_from_json + validate", run_config, seeds_config},
      {"tokenizer", "WordTokenizer::encode on any text + WordTokenizer::from_json", run_tokenizer,
       seeds_tokenizer},
      {"libero", "read_libero_image (hdf5 core driver)", run_libero, seeds_libero},
      {"request", "decode_msg_map + parse_policy_request + Policy::prepare", run_request,
       seeds_request},
      {"reply", "decode_msg_map + decode_policy_reply / decode_metadata", run_reply, seeds_reply},
      {"tfrecord", "parse_tfrecords (framing and masked crc32c)", run_tfrecord, seeds_tfrecord},
      {"rlds_episode", "parse_example + parse_rlds_episode + map_oxe_episode (Bridge's keys)",
       run_rlds_episode, seeds_rlds_episode},
  };
  return all;
}

const Target& target(const std::string& name) {
  for (const auto& t : targets()) {
    if (name == t.name) return t;
  }
  throw std::invalid_argument("unknown fuzz target '" + name + "'");
}

}  // namespace avla::fuzz
