#include "serve/msgpack_numpy.h"

#include <cstring>
#include <msgpack.hpp>

#include "util/error.h"
#include "util/shape_bytes.h"

namespace avla {

namespace {

std::string as_string(const msgpack::object& o) {
  if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
  if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
  return {};
}

bool is_stringish(const msgpack::object& o) {
  return o.type == msgpack::type::STR || o.type == msgpack::type::BIN;
}

const char* type_name(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "bool";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return "int";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "float";
    case msgpack::type::STR:
      return "str";
    case msgpack::type::BIN:
      return "bin";
    case msgpack::type::ARRAY:
      return "array";
    case msgpack::type::MAP:
      return "map";
    default:
      return "ext";
  }
}

bool is_number(const msgpack::object& o) {
  return o.type == msgpack::type::POSITIVE_INTEGER || o.type == msgpack::type::NEGATIVE_INTEGER ||
         o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64;
}

bool is_integer(const msgpack::object& o) {
  return o.type == msgpack::type::POSITIVE_INTEGER || o.type == msgpack::type::NEGATIVE_INTEGER;
}

int64_t to_int(const msgpack::object& o, const std::string& what) {
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  AVLA_CHECK(o.via.u64 <= static_cast<uint64_t>(INT64_MAX), "msgpack",
             "{}: integer {} does not fit in int64", what, o.via.u64);
  return static_cast<int64_t>(o.via.u64);
}

double to_double(const msgpack::object& o, const std::string& what) {
  return is_integer(o) ? static_cast<double>(to_int(o, what)) : o.via.f64;
}

// the map's value for a key given as str or bin; nullptr when absent
const msgpack::object* find(const msgpack::object& map, const char* key) {
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const msgpack::object& k = map.via.map.ptr[i].key;
    if (is_stringish(k) && as_string(k) == key) return &map.via.map.ptr[i].val;
  }
  return nullptr;
}

bool is_true(const msgpack::object* o) {
  return o != nullptr && o->type == msgpack::type::BOOLEAN && o->via.boolean;
}

NdArray decode_ndarray(const msgpack::object& map, const std::string& what) {
  const msgpack::object* data = find(map, "data");
  const msgpack::object* dtype = find(map, "dtype");
  const msgpack::object* shape = find(map, "shape");
  AVLA_CHECK(data && dtype && shape, "msgpack",
             "{}: an ndarray needs the keys data, dtype and shape", what);
  AVLA_CHECK(is_stringish(*data) && is_stringish(*dtype) && shape->type == msgpack::type::ARRAY,
             "msgpack", "{}: ndarray data must be bytes, dtype a string, shape a list", what);
  NdArray a;
  a.dtype = as_string(*dtype);
  const size_t itemsize = dtype_itemsize(a.dtype, what);
  for (uint32_t i = 0; i < shape->via.array.size; ++i) {
    const msgpack::object& d = shape->via.array.ptr[i];
    AVLA_CHECK(is_integer(d) && to_int(d, what) >= 0, "msgpack",
               "{}: ndarray shape entry {} is not a non-negative integer", what, i);
    a.shape.push_back(to_int(d, what));
  }
  a.data = as_string(*data);
  // numel * itemsize, with an overflow (a shape no message can hold) kept apart from a match
  const uint64_t expected = shape_bytes(a.shape, itemsize).value_or(UINT64_MAX);
  AVLA_CHECK(expected == a.data.size(), "msgpack",
             "{}: ndarray has {} data bytes, but shape {} of dtype {} needs {}", what,
             a.data.size(), fmt::format("[{}]", fmt::join(a.shape, ", ")), a.dtype,
             expected == UINT64_MAX ? std::string("more") : std::to_string(expected));
  return a;
}

// a plain list of numbers -> a 1-d array (float64, or int64 when every entry is an integer)
NdArray decode_number_list(const msgpack::object& list, const std::string& what) {
  bool all_int = true;
  for (uint32_t i = 0; i < list.via.array.size; ++i) {
    const msgpack::object& v = list.via.array.ptr[i];
    AVLA_CHECK(is_number(v), "msgpack", "{}: list entry {} is {}, expected a number", what, i,
               type_name(v));
    all_int = all_int && is_integer(v);
  }
  const int64_t n = list.via.array.size;
  NdArray a{all_int ? "<i8" : "<f8", {n}, std::string(static_cast<size_t>(n) * 8, '\0')};
  for (int64_t i = 0; i < n; ++i) {
    const msgpack::object& v = list.via.array.ptr[i];
    if (all_int) {
      const int64_t x = to_int(v, what);
      std::memcpy(&a.data[static_cast<size_t>(i) * 8], &x, 8);
    } else {
      const double x = to_double(v, what);
      std::memcpy(&a.data[static_cast<size_t>(i) * 8], &x, 8);
    }
  }
  return a;
}

void flatten(const msgpack::object& o, const std::string& prefix, MsgMap& out) {
  const std::string what = prefix.empty() ? "message" : "'" + prefix + "'";
  MsgField f;
  switch (o.type) {
    case msgpack::type::NIL:
      break;
    case msgpack::type::BOOLEAN:
      f.kind = MsgField::Kind::Bool;
      f.b = o.via.boolean;
      break;
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      f.kind = MsgField::Kind::Int;
      f.i = to_int(o, what);
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      f.kind = MsgField::Kind::Float;
      f.f = o.via.f64;
      break;
    case msgpack::type::STR:
    case msgpack::type::BIN:
      f.kind = MsgField::Kind::Str;
      f.s = as_string(o);
      break;
    case msgpack::type::ARRAY: {
      bool all_str = o.via.array.size > 0;
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        all_str = all_str && o.via.array.ptr[i].type == msgpack::type::STR;
      }
      if (all_str) {
        f.kind = MsgField::Kind::StrList;
        for (uint32_t i = 0; i < o.via.array.size; ++i)
          f.items.push_back(as_string(o.via.array.ptr[i]));
        break;
      }
      f.kind = MsgField::Kind::Array;
      f.array = decode_number_list(o, what);
      break;
    }
    case msgpack::type::MAP: {
      if (is_true(find(o, "__ndarray__"))) {
        f.kind = MsgField::Kind::Array;
        f.array = decode_ndarray(o, what);
        break;
      }
      if (is_true(find(o, "__npgeneric__"))) {
        const msgpack::object* v = find(o, "data");
        AVLA_CHECK(v && is_number(*v), "msgpack", "{}: a numpy scalar needs a numeric data", what);
        flatten(*v, prefix, out);
        return;
      }
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack::object& k = o.via.map.ptr[i].key;
        AVLA_CHECK(is_stringish(k), "msgpack", "{}: a key is {}, expected a string", what,
                   type_name(k));
        const std::string name = prefix.empty() ? as_string(k) : prefix + "/" + as_string(k);
        AVLA_CHECK(!out.count(name), "msgpack", "{}: key '{}' appears twice", what, name);
        flatten(o.via.map.ptr[i].val, name, out);
      }
      return;
    }
    default:
      fail("msgpack", "{}: unsupported msgpack type {}", what, type_name(o));
  }
  out[prefix] = std::move(f);
}

}  // namespace

int64_t NdArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

double MsgField::number() const {
  return kind == Kind::Int ? static_cast<double>(i) : f;
}

const char* MsgField::kind_name() const {
  switch (kind) {
    case Kind::Nil:
      return "nil";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::Str:
      return "str";
    case Kind::Array:
      return "array";
    case Kind::StrList:
      return "list of str";
  }
  return "?";
}

size_t dtype_itemsize(const std::string& dtype, const std::string& what) {
  // numpy's dtype.str: byte order ('<' little, '|' not applicable, '=' native) + kind + size
  static const char* const supported[] = {"|u1", "|i1", "|b1", "<u1", "<i1", "<u2", "<i2",
                                          "<f2", "<u4", "<i4", "<f4", "<u8", "<i8", "<f8"};
  for (const char* s : supported) {
    if (dtype == s) return static_cast<size_t>(dtype[2] - '0');
  }
  fail("msgpack", "{}: unsupported dtype '{}' (little-endian bool, int, uint or float only)", what,
       dtype);
}

NdArray make_ndarray(const std::string& dtype, std::vector<int64_t> shape, const void* data,
                     size_t n_bytes) {
  NdArray a{dtype, std::move(shape), std::string(static_cast<const char*>(data), n_bytes)};
  AVLA_CHECK(static_cast<size_t>(a.numel()) * dtype_itemsize(dtype, "ndarray") == n_bytes,
             "msgpack", "ndarray of dtype {} and {} elements cannot hold {} bytes", dtype,
             a.numel(), n_bytes);
  return a;
}

MsgMap decode_msg_map(const char* data, size_t size, const std::string& what,
                      const MsgLimits& limits) {
  msgpack::object_handle handle;
  size_t offset = 0;
  try {
    const msgpack::unpack_limit limit(limits.max_elements, limits.max_elements, limits.max_bytes,
                                      limits.max_bytes, 0, static_cast<size_t>(limits.max_depth));
    handle = msgpack::unpack(data, size, offset, nullptr, nullptr, limit);
  } catch (const std::exception& e) {
    fail("msgpack", "{} is not valid msgpack ({}, {} bytes)", what, e.what(), size);
  }
  AVLA_CHECK(offset == size, "msgpack", "{} has {} bytes after its msgpack value", what,
             size - offset);
  const msgpack::object& root = handle.get();
  AVLA_CHECK(root.type == msgpack::type::MAP, "msgpack", "{} must be a msgpack map, found {}", what,
             type_name(root));
  MsgMap out;
  flatten(root, "", out);
  return out;
}

struct MsgWriter::Impl {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer{buffer};
};

MsgWriter::MsgWriter() : impl_(new Impl) {}
MsgWriter::~MsgWriter() {
  delete impl_;
}

MsgWriter& MsgWriter::map(size_t n) {
  impl_->packer.pack_map(static_cast<uint32_t>(n));
  return *this;
}
MsgWriter& MsgWriter::list(size_t n) {
  impl_->packer.pack_array(static_cast<uint32_t>(n));
  return *this;
}
MsgWriter& MsgWriter::key(const std::string& k) {
  return str(k);
}
MsgWriter& MsgWriter::str(const std::string& v) {
  impl_->packer.pack_str(static_cast<uint32_t>(v.size()));
  impl_->packer.pack_str_body(v.data(), static_cast<uint32_t>(v.size()));
  return *this;
}
MsgWriter& MsgWriter::f64(double v) {
  // always float 64 (0xcb + big-endian bits): msgpack-cxx's pack_double writes integral values
  // as ints, and a reader that expects a float (infer_ms = 12.0) must get one
  uint64_t bits = 0;
  std::memcpy(&bits, &v, 8);
  char out[9];
  out[0] = static_cast<char>(0xcb);
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  impl_->buffer.write(out, sizeof out);
  return *this;
}
MsgWriter& MsgWriter::i64(int64_t v) {
  impl_->packer.pack_int64(v);
  return *this;
}
MsgWriter& MsgWriter::u64(uint64_t v) {
  impl_->packer.pack_uint64(v);
  return *this;
}
MsgWriter& MsgWriter::boolean(bool v) {
  if (v) {
    impl_->packer.pack_true();
  } else {
    impl_->packer.pack_false();
  }
  return *this;
}
MsgWriter& MsgWriter::nil() {
  impl_->packer.pack_nil();
  return *this;
}
MsgWriter& MsgWriter::array(const NdArray& a) {
  // openpi's msgpack_numpy: the four marker keys are bin
  auto bin = [&](const char* s) {
    const auto n = static_cast<uint32_t>(std::strlen(s));
    impl_->packer.pack_bin(n);
    impl_->packer.pack_bin_body(s, n);
  };
  map(4);
  bin("__ndarray__");
  boolean(true);
  bin("data");
  impl_->packer.pack_bin(static_cast<uint32_t>(a.data.size()));
  impl_->packer.pack_bin_body(a.data.data(), static_cast<uint32_t>(a.data.size()));
  bin("dtype");
  str(a.dtype);
  bin("shape");
  impl_->packer.pack_array(static_cast<uint32_t>(a.shape.size()));
  for (int64_t d : a.shape) impl_->packer.pack_int64(d);
  return *this;
}

std::string MsgWriter::bytes() const {
  return std::string(impl_->buffer.data(), impl_->buffer.size());
}

}  // namespace avla
