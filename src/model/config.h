// model and training hyper-parameters: one struct each, read from configs/*.json, printed at
// start-up and saved in every checkpoint (config.json).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace avla {

struct ModelConfig {
  // observation
  int n_cam = 2;        // camera images per observation: 2 agentview + wrist, 1 agentview, 0 none
                        // (a state-only policy: no vision encoder, no image tokens)
  int image_size = 64;  // model resolution (square); inputs are resized to it
  // rotation of the training images from upright: 0 (our simulator) or 180 (real LIBERO files
  // as stored). observations given to a policy are upright; it turns them by this much
  int image_rotation = 0;
  int state_dim = 11;     // data/state_features.h: ee pos (3) + rotation columns (6) + fingers (2)
  int max_text_len = 16;  // instruction tokens, padded
  int vocab_size = 0;     // set from the tokenizer
  // vision encoder (qwen2.5-vl shape). stem "patch": one conv with kernel = stride = patch_size
  // (the vit patch embedding); "conv": log2(patch_size) 3x3 stride-2 convs + gelu, then a 1x1
  // conv (early convolutions, xiao et al. 2021): the same tokens, features built locally first
  std::string vision_stem = "patch";
  int patch_size = 8;
  int vision_dim = 128;
  int vision_layers = 2;
  int vision_heads = 4;
  int vision_ff = 512;
  // backbone (qwen2 shape)
  int d_model = 256;
  int n_layer = 4;
  int n_head = 4;
  int n_kv_head = 2;
  int d_ff = 768;
  double rope_theta = 10000.0;
  double rms_eps = 1e-6;
  // action expert
  int action_dim = 7;
  int chunk_len = 10;             // L
  double time_min_period = 4e-3;  // sinusoidal time embedding (pi0)
  double time_max_period = 4.0;
  int n_flow_steps = 10;  // N Euler steps, delta = 1 / N
  // training-only auxiliary head (0: none): regresses the simulator's object positions
  // (data/object_state.h, object_state_dim) from the image tokens of the backbone's last layer, so
  // the vision side learns where the objects are. the policy never reads it
  int aux_object_dim = 0;
  // the scene token (0: none): the label slots of a pretrained vision probe
  // (model/vision_probe.h). > 0 adds one prefix token after the image tokens, projected from the
  // probe's estimates of every slot's presence and position, the drawer and the gripper, read
  // from the image tokens (train --scene-token, with --init-vision)
  int scene_slots = 0;
  // the probe also estimates each slot's yaw (sim::yaw_features: 2 numbers a slot), which the scene
  // token then carries: pretraining on a corpus with yaw labels sets it, --scene-token copies it
  bool probe_yaw = false;

  int head_dim() const { return d_model / n_head; }
  int vision_grid() const { return image_size / patch_size; }  // patches per side
  int tokens_per_cam() const {
    return (vision_grid() / 2) * (vision_grid() / 2);
  }  // after 2x2 merge
  int scene_tokens() const { return scene_slots > 0 ? 1 : 0; }
  // [image tokens | scene token | text tokens | state token]
  int prefix_len() const { return n_cam * tokens_per_cam() + scene_tokens() + max_text_len + 1; }

  void validate() const;  // throws avla::Error("config", ...) naming the field
};

struct TrainConfig {
  int steps = 3000;
  // > 0: the cosine schedule ends (lr at its floor, checkpoint) at this many seconds of training,
  // counted over resumes; 0: by steps only
  double time_limit_s = 0.0;
  int batch = 32;
  double lr = 3e-4;
  double vision_lr_scale = 1.0;  // vision encoder lr = lr * scale (paper, pretrained: 0.2)
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double adam_eps = 1e-8;
  int warmup_steps = 100;
  double min_lr_ratio = 0.1;  // cosine floor as a fraction of lr
  double grad_clip = 1.0;
  int log_every = 10;
  int save_every = 500;
  int keep_every = 0;    // > 0: also keep a snapshot checkpoint every this many steps (snapshots/)
  bool vanilla = false;  // plain SFM training (m = 1 always)
  double sfm_share = 0.5;  // share of plain-sfm rows among alg. 2 rows (0: alg. 2 exactly)
  int flow_draws = 4;      // (tau, mask, noise) draws per encoded observation
  // std of gaussian noise on the unmasked (context) tokens of alg. 2 rows, in normalized action
  // units: at inference AFM's context is the model's SFM output, not ground truth (0: none)
  double context_noise = 0.0;
  int aug_shift = 4;  // random-shift augmentation: up to this many pixels per camera (0: off)
  double ema_decay = 0.999;  // ema of weights saved in model.safetensors (0: none)
  bool bf16 = false;         // bf16 autocast
  uint64_t seed = 0;
  // data
  double pause_eps = 1e-3;  // an action with |delta| below this and an unchanged gripper is a pause
  // smallest state std the normalizer keeps, in the state features' units (m, rotation-matrix
  // entries): a feature that hardly varies in the demos (the gripper's tilt) must not turn a
  // small deviation in closed loop into an input of tens of standard deviations
  double state_std_floor = 0.01;
  // narrowest action quantile range (q99 - q01) the normalizer keeps, in env action units: a
  // dimension the expert barely moves (the wrist's roll and pitch corrections span ~0.008) would
  // otherwise be stretched ~100x to [-1, 1] and weigh in the loss like a whole translation axis.
  // 0 keeps the raw range.
  double action_range_floor = 0.0;
  // weight of the auxiliary object-position loss (model.aux_object_dim > 0; the demos must carry
  // obs/object_states): mean squared error of the normalized positions, added to eq. 4 (0: off)
  double aux_object_weight = 0.0;
  // a pretrained vision encoder (asyncvla pretrain-vision's output directory) the run starts
  // from ("": a random encoder); freeze_vision keeps it fixed, else it trains at
  // lr * vision_lr_scale. a resume takes the weights from the train state, not from here
  std::string init_vision;
  bool freeze_vision = false;
  // with freeze_vision: the encoder's tokens of every training frame are computed once and the
  // steps read them (no vision forward or backward in a step). needs aug_shift 0: a cached frame
  // has one fixed view
  bool cache_vision = false;

  void validate() const;
};

struct Config {
  ModelConfig model;
  TrainConfig train;
};

nlohmann::json to_json(const ModelConfig& c);
nlohmann::json to_json(const TrainConfig& c);
nlohmann::json to_json(const Config& c);
// unknown keys are errors (a typo must not silently fall back to a default); source names the file.
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& source);
TrainConfig train_config_from_json(const nlohmann::json& j, const std::string& source);
Config config_from_json(const nlohmann::json& j, const std::string& source);
Config load_config(const std::string& path);

}  // namespace avla
