#include "io/tensor_file.h"

#include <set>

#include "io/safetensors.h"
#include "util/error.h"

namespace avla {

namespace {

constexpr const char* kTensorFileComponent = "safetensors";

DType to_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat64:
      return DType::F64;
    case torch::kFloat32:
      return DType::F32;
    case torch::kFloat16:
      return DType::F16;
    case torch::kBFloat16:
      return DType::BF16;
    case torch::kInt64:
      return DType::I64;
    case torch::kInt32:
      return DType::I32;
    case torch::kInt16:
      return DType::I16;
    case torch::kInt8:
      return DType::I8;
    case torch::kUInt8:
      return DType::U8;
    case torch::kBool:
      return DType::BOOL;
    default:
      fail(kTensorFileComponent, "cannot store torch dtype {}", c10::toString(t));
  }
}

torch::ScalarType to_scalar(DType t) {
  switch (t) {
    case DType::F64:
      return torch::kFloat64;
    case DType::F32:
      return torch::kFloat32;
    case DType::F16:
      return torch::kFloat16;
    case DType::BF16:
      return torch::kBFloat16;
    case DType::I64:
      return torch::kInt64;
    case DType::I32:
      return torch::kInt32;
    case DType::I16:
      return torch::kInt16;
    case DType::I8:
      return torch::kInt8;
    case DType::U8:
      return torch::kUInt8;
    case DType::BOOL:
      return torch::kBool;
  }
  fail(kTensorFileComponent, "unknown dtype");
}

std::string shape_str(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

void save_tensor_map(const std::string& path, const TensorMap& tensors,
                     const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;
  std::vector<TensorBuffer> buffers;
  for (const auto& [name, t] : tensors) {
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    keep.push_back(c);
    TensorBuffer b;
    b.name = name;
    b.dtype = to_dtype(c.scalar_type());
    b.shape = c.sizes().vec();
    b.data = c.data_ptr();
    b.nbytes = c.numel() * c.element_size();
    buffers.push_back(b);
  }
  save_safetensors(path, buffers, metadata);
}

TensorMap load_tensor_map(const std::string& path, std::map<std::string, std::string>* metadata) {
  SafeTensors st = SafeTensors::load(path);
  if (metadata != nullptr) *metadata = st.metadata();
  return tensor_map_from(st);
}

TensorMap tensor_map_from(const SafeTensors& file) {
  TensorMap out;
  for (const auto& name : file.names()) {
    const TensorInfo& info = file.info(name);
    torch::Tensor t = torch::empty(info.shape, torch::TensorOptions().dtype(to_scalar(info.dtype)));
    if (info.nbytes > 0) std::memcpy(t.data_ptr(), file.data(name), info.nbytes);
    out[name] = t;
  }
  return out;
}

TensorMap module_state(const torch::nn::Module& module) {
  TensorMap out;
  for (const auto& p : module.named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) out[b.key()] = b.value();
  return out;
}

void load_state_strict(torch::nn::Module& module, const TensorMap& tensors,
                       const std::string& source, const std::string& prefix) {
  TensorMap own = module_state(module);
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : own) {
    const std::string key = prefix + name;
    auto it = tensors.find(key);
    AVLA_CHECK(it != tensors.end(), kTensorFileComponent, "{}: missing tensor '{}' (shape {})",
               source, key, shape_str(target.sizes()));
    const torch::Tensor& src = it->second;
    AVLA_CHECK(src.sizes() == target.sizes(), kTensorFileComponent,
               "{}: tensor '{}' has shape {}, expected {}", source, key, shape_str(src.sizes()),
               shape_str(target.sizes()));
    AVLA_CHECK(src.is_floating_point() == target.is_floating_point(), kTensorFileComponent,
               "{}: tensor '{}' has dtype {}, expected {}", source, key,
               c10::toString(src.scalar_type()), c10::toString(target.scalar_type()));
    target.copy_(src);
    used.insert(key);
  }
  for (const auto& [name, t] : tensors) {
    if (name.rfind(prefix, 0) != 0) continue;
    AVLA_CHECK(used.count(name) != 0, kTensorFileComponent, "{}: unexpected tensor '{}' (shape {})",
               source, name, shape_str(t.sizes()));
  }
}

void load_module_strict(torch::nn::Module& module, const std::string& path,
                        const std::string& prefix) {
  load_state_strict(module, load_tensor_map(path), path, prefix);
}

}  // namespace avla
