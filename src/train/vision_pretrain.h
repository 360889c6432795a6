// vision pretraining (asyncvla pretrain-vision), our analogue of the paper's pretrained VLM: the
// vision encoder (patch embedding, layers, 2x2 merger) learns on the simulator's labelled corpus
// (sim/corpus.h) through probe heads (model/vision_probe.h) that predict every object's presence
// and position (and yaw, from a corpus with yaw labels), the drawer opening and the gripper's pose
// and opening. the encoder checkpoint it
// writes starts any policy (train --init-vision, checkpoint/pretrained_vision.h).
#pragma once

#include <string>
#include <vector>

#include "data/vision_corpus.h"
#include "model/config.h"
#include "model/vision_encoder.h"
#include "model/vision_probe.h"

namespace avla {

struct PretrainVisionOptions {
  std::vector<std::string> corpus;  // files of `asyncvla sim corpus`
  Config config;                    // model: the encoder's shape; train: steps, batch, lr, ...
  std::string out_dir;
  int64_t holdout = 2000;     // the corpus's last frames, never trained on: the probe's test split
  int eval_every = 1000;      // held-out probe metrics every this many steps (and at the end)
  double time_limit_s = 0.0;  // > 0: the cosine schedule ends at this many seconds of training
  bool resume = false;
  int stop_after = 0;  // > 0: stop (with a saved state) after this many steps of this invocation
  // the frame of the yaw labels: "world" (as the corpus holds them) or "grip" (relative to the
  // fingers' closing axis, VisionCorpus::yaw_in_grip_frame); recorded in probe.json
  std::string yaw_frame = "world";
};

// the probe's error on frames: each head's own unit
struct ProbeMetrics {
  int64_t frames = 0;
  double loss = 0;                 // the training loss's value on these frames
  double object_cm = 0;            // mean position error over the objects present, cm
  double object_cm_mean = 0;       // the same for a guess of each slot's mean position (a baseline)
  double presence_accuracy = 0;    // slots whose presence is classified right
  double identity_accuracy = 0;    // frames whose every slot's presence is right
  double ee_cm = 0;                // grip site position error, cm
  double drawer_cm = 0;            // drawer opening error on frames with the cabinet, cm
  double gripper_mm = 0;           // mean finger opening error, mm
  double yaw_deg = -1;             // mean yaw error over present cubes and lying objects, degrees
                                   // (mod their symmetry); -1 without yaw heads
  double yaw_deg_zero_guess = -1;  // the same for a guess of 0 (square to the world axes)
  double yaw_deg_near = -1;        // the same two over the objects within near_grip_m of the
  double yaw_deg_near_zero_guess = -1;  // grip, across the table: the wrist camera sees them
  static constexpr double near_grip_m = 0.08;
};

// the summed loss of one batch (with graph) and its terms' values
struct ProbeLoss {
  torch::Tensor total;
  double presence = 0, position = 0, drawer = 0, ee = 0, gripper = 0, yaw = 0;
};
ProbeLoss probe_loss(const ProbeOutput& out, const VisionCorpus& batch);

// probe metrics on frames (batches of batch rows, no gradients); mean_pos (n_slot, 3) is the
// training split's mean position of each slot (the baseline's guess)
ProbeMetrics evaluate_probe(VisionEncoderImpl& encoder, VisionProbeImpl& probe,
                            const VisionCorpus& frames, const torch::Tensor& mean_pos,
                            int64_t batch = 256);

// trains, writes out_dir (config.json, vision_encoder.safetensors, probe.safetensors, probe.json,
// metrics.jsonl, train_state.safetensors) and returns the final held-out metrics
ProbeMetrics pretrain_vision(const PretrainVisionOptions& options);

}  // namespace avla
