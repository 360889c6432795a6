// openpi's wire format: msgpack maps whose numpy arrays travel as
//   {b"__ndarray__": true, b"data": <raw C-order bytes>, b"dtype": "<f4", b"shape": [..]}
// and numpy scalars as {b"__npgeneric__": true, b"data": v, b"dtype": ".."} (the marker keys are
// msgpack bin, ordinary keys str). a decoded message is flat: nested maps join their keys with
// '/', so {"policy_timing": {"infer_ms": 3}} reads as "policy_timing/infer_ms". no torch here:
// serve/openpi_protocol.h turns arrays into tensors.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace avla {

// a numpy array as it travels: dtype in numpy's str form ("|u1", "<f4", "<f8", "<i8", ...)
struct NdArray {
  std::string dtype;
  std::vector<int64_t> shape;
  std::string data;  // raw little-endian C-order bytes, numel * itemsize of them

  int64_t numel() const;
};

// one value of a decoded message. numbers and lists of numbers become arrays ("<f8" / "<i8");
// a numpy scalar becomes a number (kind Int or Float); a list of strings is kind StrList
struct MsgField {
  enum class Kind { Nil, Bool, Int, Float, Str, Array, StrList };
  Kind kind = Kind::Nil;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  NdArray array;
  std::vector<std::string> items;  // StrList

  bool is_number() const { return kind == Kind::Int || kind == Kind::Float; }
  double number() const;  // Int or Float as a double
  const char* kind_name() const;
};

using MsgMap = std::map<std::string, MsgField>;

// limits on what a decoder accepts from outside (beyond the transport's own size limit)
struct MsgLimits {
  size_t max_elements = 1 << 20;  // entries of one msgpack array or map
  size_t max_bytes = 64 << 20;    // one str or bin
  int max_depth = 8;
};

// a whole message (one msgpack map) -> flat map. what names the message in errors; throws
// avla::Error("msgpack", ...) on anything malformed: not msgpack, trailing bytes, a top level
// that is not a map, a key that is not a string, an ndarray whose data size disagrees with its
// shape and dtype, an unsupported dtype (big-endian, object), limits exceeded.
MsgMap decode_msg_map(const char* data, size_t size, const std::string& what,
                      const MsgLimits& limits = {});

// builds one msgpack message. keys are str; arrays use openpi's ndarray map.
class MsgWriter {
 public:
  MsgWriter();
  ~MsgWriter();
  MsgWriter(const MsgWriter&) = delete;
  MsgWriter& operator=(const MsgWriter&) = delete;

  MsgWriter& map(size_t n_entries);  // the next n key/value pairs belong to it
  MsgWriter& list(size_t n_items);   // the next n values belong to it (a python list)
  MsgWriter& key(const std::string& k);
  MsgWriter& str(const std::string& v);
  MsgWriter& f64(double v);
  MsgWriter& i64(int64_t v);
  MsgWriter& u64(uint64_t v);
  MsgWriter& boolean(bool v);
  MsgWriter& nil();
  MsgWriter& array(const NdArray& a);
  std::string bytes() const;

 private:
  struct Impl;
  Impl* impl_;
};

// an array of dtype ("<f4" for float32, "|u1" for uint8, ...) from a flat C-order buffer
NdArray make_ndarray(const std::string& dtype, std::vector<int64_t> shape, const void* data,
                     size_t n_bytes);
// bytes per element of a supported dtype; throws for others
size_t dtype_itemsize(const std::string& dtype, const std::string& what);

}  // namespace avla
