// torch tensors <-> safetensors files, and strict loading of a module's parameters.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

namespace avla {

using TensorMap = std::map<std::string, torch::Tensor>;

// writes contiguous CPU copies of tensors atomically.
void save_tensor_map(const std::string& path, const TensorMap& tensors,
                     const std::map<std::string, std::string>& metadata = {});

// reads every tensor of a validated file (copies out of the file buffer); metadata optional.
TensorMap load_tensor_map(const std::string& path,
                          std::map<std::string, std::string>* metadata = nullptr);

class SafeTensors;
// every tensor of a parsed file, copied out of its buffer
TensorMap tensor_map_from(const SafeTensors& file);

// every named parameter and buffer of module, dotted names
// ("backbone.layers.0.attn.qkv_proj.weight").
TensorMap module_state(const torch::nn::Module& module);

// strict load: every module tensor must be in the file with the same shape, and the file may not
// hold tensors the module lacks. dtype converts to the module's. errors name file, tensor, shapes.
void load_module_strict(torch::nn::Module& module, const std::string& path,
                        const std::string& prefix = "");

// strict load from an in-memory map (shared by the file loader); source names the origin.
void load_state_strict(torch::nn::Module& module, const TensorMap& tensors,
                       const std::string& source, const std::string& prefix = "");

}  // namespace avla
