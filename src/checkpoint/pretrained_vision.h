// a pretrained vision encoder directory (written by asyncvla pretrain-vision): config.json (the
// model config whose vision fields shaped it), vision_encoder.safetensors ("vision_encoder.<name>"
// tensors, the names a policy's weights use), probe.safetensors ("probe.<name>": the heads a
// scene token reuses), probe.json (its held-out probe metrics and label slots). the read
// side is strict: the policy's vision fields must equal the encoder's, and every tensor must be
// there with its shape.
#pragma once

#include <string>

#include "model/config.h"
#include "model/vision_encoder.h"
#include "model/vision_probe.h"

namespace avla {

void save_pretrained_vision(const std::string& dir, const ModelConfig& cfg,
                            VisionEncoderImpl& encoder);

// loads dir's encoder into encoder, whose model config is cfg. a vision field that differs
// (image_size, patch_size, vision_dim, ...) is an error naming the field and both values
void load_pretrained_vision(VisionEncoderImpl& encoder, const ModelConfig& cfg,
                            const std::string& dir);

// the probe's label slots, from dir/probe.json ("slots"): the model.scene_slots a policy with a
// scene token from this encoder has
int pretrained_probe_slots(const std::string& dir);

// whether dir's probe estimates each slot's yaw (its config's model.probe_yaw): the model.probe_yaw
// a policy with a scene token from this encoder has
bool pretrained_probe_yaw(const std::string& dir);

// loads dir's probe heads into probe, whose model config is cfg (strict: every tensor with its
// shape). the probe reads the tokens of every camera of a frame, so a policy with another camera
// count than the pretraining corpus's is an error naming model.n_cam and both counts
void load_pretrained_probe(VisionProbeImpl& probe, const ModelConfig& cfg, const std::string& dir);

}  // namespace avla
