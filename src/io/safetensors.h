// safetensors read/write, no torch: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
// data buffer. reading validates everything before any byte is trusted.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace avla {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dtype);          // "F32"
size_t dtype_size(DType dtype);               // bytes per element
DType dtype_from_name(const std::string& s);  // throws on an unknown name

struct TensorInfo {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t offset = 0;  // from the start of the data buffer
  size_t nbytes = 0;
  int64_t numel() const;
};

// a parsed, validated safetensors file held in memory.
class SafeTensors {
 public:
  // reads and validates path; throws avla::Error("safetensors", "<path>: ...") when broken.
  static SafeTensors load(const std::string& path);
  // parses bytes already in memory; name is used in error messages.
  static SafeTensors parse(std::string bytes, const std::string& name);

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  const uint8_t* data(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  std::string bytes_;
  size_t data_start_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// only the __metadata__ of a file: reads the length and the header, never the data (a train
// state is tens of MB). errors as SafeTensors::load.
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);

// a metadata value as a number: the whole string must be one (no "12abc", no blanks), finite, and
// for an integer in range. absent key: nullopt. errors name the file and the key.
std::optional<int64_t> metadata_int(const std::map<std::string, std::string>& metadata,
                                    const std::string& key, const std::string& path);
std::optional<double> metadata_double(const std::map<std::string, std::string>& metadata,
                                      const std::string& key, const std::string& path);

// one tensor to write: raw little-endian bytes.
struct TensorBuffer {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// serializes tensors (sorted by name, 8-byte aligned data) to bytes.
std::string serialize_safetensors(const std::vector<TensorBuffer>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

// writes atomically (temp file + rename).
void save_safetensors(const std::string& path, const std::vector<TensorBuffer>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace avla
