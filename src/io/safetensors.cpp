#include "io/safetensors.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "util/error.h"

namespace avla {

namespace {

constexpr const char* kSafetensorsComponent = "safetensors";
// a header larger than this is not a weights file (the reference implementation uses 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100u * 1024u * 1024u;

// the u64 little-endian header length at the start of a file of file_size bytes, checked
uint64_t header_length(const char* first8, size_t file_size, const std::string& name) {
  AVLA_CHECK(file_size >= 8, kSafetensorsComponent, "{}: file is {} bytes, expected at least 8",
             name, file_size);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(first8[i]);
  AVLA_CHECK(header_len <= file_size - 8, kSafetensorsComponent,
             "{}: header length {} points past the end of the file ({} bytes)", name, header_len,
             file_size);
  AVLA_CHECK(header_len <= kMaxHeaderBytes, kSafetensorsComponent,
             "{}: header length {} exceeds {} bytes", name, header_len, kMaxHeaderBytes);
  return header_len;
}

nlohmann::json parse_header(const char* begin, const char* end, const std::string& name) {
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(begin, end);
  } catch (const nlohmann::json::exception& e) {
    fail(kSafetensorsComponent, "{}: header is not valid JSON ({})", name, e.what());
  }
  AVLA_CHECK(header.is_object(), kSafetensorsComponent, "{}: header is {}, expected a JSON object",
             name, header.type_name());
  return header;
}

// the header's __metadata__ (an object of strings) into out
void read_metadata(const nlohmann::json& entry, const std::string& name,
                   std::map<std::string, std::string>& out) {
  AVLA_CHECK(entry.is_object(), kSafetensorsComponent, "{}: __metadata__ must be an object", name);
  for (auto m = entry.begin(); m != entry.end(); ++m) {
    AVLA_CHECK(m.value().is_string(), kSafetensorsComponent,
               "{}: __metadata__['{}'] must be a string", name, m.key());
    out[m.key()] = m.value().get<std::string>();
  }
}

struct DTypeRow {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeRow kDTypes[] = {
    {DType::F64, "F64", 8},   {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},   {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
};

const DTypeRow& row(DType dtype) {
  for (const auto& r : kDTypes) {
    if (r.dtype == dtype) return r;
  }
  fail(kSafetensorsComponent, "unknown dtype enum {}", static_cast<int>(dtype));
}

}  // namespace

const char* dtype_name(DType dtype) {
  return row(dtype).name;
}
size_t dtype_size(DType dtype) {
  return row(dtype).size;
}

DType dtype_from_name(const std::string& s) {
  for (const auto& r : kDTypes) {
    if (s == r.name) return r.dtype;
  }
  fail(kSafetensorsComponent, "unknown dtype '{}'", s);
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafeTensors SafeTensors::load(const std::string& path) {
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const Error& e) {
    fail(kSafetensorsComponent, "{}: cannot read file", path);
  }
  return parse(std::move(bytes), path);
}

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  AVLA_CHECK(in && !ec, kSafetensorsComponent, "{}: cannot read file", path);
  char first8[8] = {};
  in.read(first8, 8);
  const uint64_t header_len = header_length(first8, file_size, path);
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  AVLA_CHECK(in.gcount() == static_cast<std::streamsize>(header_len), kSafetensorsComponent,
             "{}: cannot read the {}-byte header", path, header_len);
  const nlohmann::json header = parse_header(text.data(), text.data() + text.size(), path);
  std::map<std::string, std::string> out;
  if (header.contains("__metadata__")) read_metadata(header["__metadata__"], path, out);
  return out;
}

namespace {

// a metadata value parsed by parse (strtoll / strtod): absent -> nullopt; else the whole string,
// with no leading blank, must be a finite number in range
template <typename T, typename Parse>
std::optional<T> metadata_number(const std::map<std::string, std::string>& metadata,
                                 const std::string& key, const std::string& path,
                                 const char* expected, Parse parse) {
  const auto it = metadata.find(key);
  if (it == metadata.end()) return std::nullopt;
  const std::string& text = it->second;
  char* end = nullptr;
  errno = 0;
  const T value = parse(text.c_str(), &end);
  const bool whole =
      !text.empty() && !std::isspace(static_cast<unsigned char>(text[0])) && *end == '\0';
  AVLA_CHECK(errno == 0 && whole && std::isfinite(static_cast<double>(value)),
             kSafetensorsComponent, "{}: metadata {} '{}' is not {}", path, key, text, expected);
  return value;
}

}  // namespace

std::optional<int64_t> metadata_int(const std::map<std::string, std::string>& metadata,
                                    const std::string& key, const std::string& path) {
  return metadata_number<int64_t>(metadata, key, path, "an integer",
                                  [](const char* s, char** e) { return std::strtoll(s, e, 10); });
}

std::optional<double> metadata_double(const std::map<std::string, std::string>& metadata,
                                      const std::string& key, const std::string& path) {
  return metadata_number<double>(metadata, key, path, "a finite number",
                                 [](const char* s, char** e) { return std::strtod(s, e); });
}

SafeTensors SafeTensors::parse(std::string bytes, const std::string& name) {
  SafeTensors st;
  st.path_ = name;
  const size_t file_size = bytes.size();

  // header length: u64 little-endian, at least 8 bytes in, bounded by the file size
  const uint64_t header_len = header_length(bytes.data(), file_size, name);
  const nlohmann::json header = parse_header(bytes.data() + 8, bytes.data() + 8 + header_len, name);

  st.data_start_ = 8 + header_len;
  const size_t data_size = file_size - st.data_start_;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const auto& entry = it.value();
    if (key == "__metadata__") {
      read_metadata(entry, name, st.metadata_);
      continue;
    }
    AVLA_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                   entry.contains("data_offsets"),
               kSafetensorsComponent, "{}: tensor '{}' needs dtype, shape and data_offsets", name,
               key);
    AVLA_CHECK(entry["dtype"].is_string(), kSafetensorsComponent,
               "{}: tensor '{}' dtype is not a string", name, key);
    TensorInfo info;
    try {
      info.dtype = dtype_from_name(entry["dtype"].get<std::string>());
    } catch (const Error&) {
      fail(kSafetensorsComponent, "{}: tensor '{}' has unknown dtype '{}'", name, key,
           entry["dtype"].get<std::string>());
    }
    const auto& shape = entry["shape"];
    AVLA_CHECK(shape.is_array(), kSafetensorsComponent, "{}: tensor '{}' shape is not an array",
               name, key);
    uint64_t numel = 1;
    for (const auto& d : shape) {
      AVLA_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
                 kSafetensorsComponent, "{}: tensor '{}' has a bad dimension {}", name, key,
                 d.dump());
      uint64_t dim = d.get<uint64_t>();
      AVLA_CHECK(dim == 0 || numel <= data_size / dim + 1, kSafetensorsComponent,
                 "{}: tensor '{}' shape {} is larger than the file", name, key, shape.dump());
      numel *= dim;
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& offsets = entry["data_offsets"];
    AVLA_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                   offsets[1].is_number_unsigned(),
               kSafetensorsComponent,
               "{}: tensor '{}' data_offsets must be two non-negative integers", name, key);
    uint64_t begin = offsets[0].get<uint64_t>();
    uint64_t end = offsets[1].get<uint64_t>();
    AVLA_CHECK(begin <= end && end <= data_size, kSafetensorsComponent,
               "{}: tensor '{}' data_offsets [{}, {}] outside the data buffer of {} bytes", name,
               key, begin, end, data_size);
    uint64_t expected = numel * dtype_size(info.dtype);
    AVLA_CHECK(end - begin == expected, kSafetensorsComponent,
               "{}: tensor '{}' holds {} bytes, expected {} for {} {}", name, key, end - begin,
               expected, dtype_name(info.dtype), shape.dump());
    info.offset = begin;
    info.nbytes = end - begin;
    st.tensors_[key] = info;
  }

  // no two tensors may share bytes
  std::vector<std::pair<size_t, std::string>> spans;
  for (const auto& [key, info] : st.tensors_) spans.emplace_back(info.offset, key);
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    const auto& prev = st.tensors_.at(spans[i - 1].second);
    AVLA_CHECK(prev.offset + prev.nbytes <= spans[i].first, kSafetensorsComponent,
               "{}: tensors '{}' and '{}' overlap in the data buffer", name, spans[i - 1].second,
               spans[i].second);
  }
  st.bytes_ = std::move(bytes);
  return st;
}

const TensorInfo& SafeTensors::info(const std::string& name) const {
  auto it = tensors_.find(name);
  AVLA_CHECK(it != tensors_.end(), kSafetensorsComponent, "{}: no tensor named '{}'", path_, name);
  return it->second;
}

const uint8_t* SafeTensors::data(const std::string& name) const {
  return reinterpret_cast<const uint8_t*>(bytes_.data()) + data_start_ + info(name).offset;
}

std::vector<std::string> SafeTensors::names() const {
  std::vector<std::string> out;
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

std::string serialize_safetensors(const std::vector<TensorBuffer>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorBuffer*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorBuffer* a, const TensorBuffer* b) { return a->name < b->name; });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const TensorBuffer* t : sorted) {
    AVLA_CHECK(!header.contains(t->name), kSafetensorsComponent, "duplicate tensor name '{}'",
               t->name);
    int64_t numel = 1;
    for (int64_t d : t->shape) numel *= d;
    AVLA_CHECK(static_cast<size_t>(numel) * dtype_size(t->dtype) == t->nbytes,
               kSafetensorsComponent, "tensor '{}' has {} bytes, expected {}", t->name, t->nbytes,
               static_cast<size_t>(numel) * dtype_size(t->dtype));
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->nbytes}}};
    offset += t->nbytes;
  }
  std::string header_text = header.dump();
  // pad the header with spaces so the data buffer starts 8-byte aligned
  while ((8 + header_text.size()) % 8 != 0) header_text.push_back(' ');

  std::string out;
  out.reserve(8 + header_text.size() + offset);
  uint64_t len = header_text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  out += header_text;
  for (const TensorBuffer* t : sorted) {
    out.append(reinterpret_cast<const char*>(t->data), t->nbytes);
  }
  return out;
}

void save_safetensors(const std::string& path, const std::vector<TensorBuffer>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace avla
