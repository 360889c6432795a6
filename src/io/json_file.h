// reading a json file with one error that names the component and the file, and config-like
// structs to and from json through one table of fields (so json and struct cannot drift).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "util/error.h"

namespace avla {

// throws avla::Error(component, "<path>: ...") when the file is unreadable or not json.
nlohmann::json read_json_file(const std::string& path, const std::string& component);

// v converted to a field of type T when it has T's kind and fits: bool from true/false; an integer
// type from an integer, or an integral float, inside T's range (nlohmann's own get<int>() casts
// 1e126 to int, which is undefined behaviour); a float type from any number; a string from a
// string. false otherwise.
template <typename T>
bool json_to_field(const nlohmann::json& v, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return false;
    out = v.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    using lim = std::numeric_limits<T>;
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(lim::max())) return false;
      out = static_cast<T>(u);
    } else if (v.is_number_integer()) {
      const int64_t i = v.get<int64_t>();
      if (i < 0 && !lim::is_signed) return false;
      if (i < 0 ? i < static_cast<int64_t>(lim::min())
                : static_cast<uint64_t>(i) > static_cast<uint64_t>(lim::max())) {
        return false;
      }
      out = static_cast<T>(i);
    } else if (v.is_number_float()) {
      const double d = v.get<double>();
      // the bounds are powers of two, exact in a double: [min, max + 1)
      const double lo = static_cast<double>(lim::min()),
                   hi = 2.0 * (static_cast<double>(lim::max() / 2) + 1);
      if (!(d == std::floor(d)) || d < lo || d >= hi) return false;
      out = static_cast<T>(d);
    } else {
      return false;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return false;
    out = v.get<T>();
  } else {
    if (!v.is_string()) return false;
    out = v.get<std::string>();
  }
  return true;
}

// a struct's field table: fields(c, f) calls f("name", c.member) for every member.
// reads the object j into a default Struct: a missing key keeps the default; a key of the wrong
// type or one the table does not know throws avla::Error(component, "<source>: ...
// '<section>.<key>'").
template <typename Struct, typename Fields>
Struct struct_from_json(const nlohmann::json& j, const std::string& source,
                        const std::string& component, const std::string& section, Fields&& fields) {
  AVLA_CHECK(j.is_object(), component, "{}: '{}' must be an object, found {}", source, section,
             j.type_name());
  Struct c;
  size_t known = 0;
  fields(c, [&](const char* key, auto& field) {
    if (!j.contains(key)) return;
    ++known;
    AVLA_CHECK(json_to_field(j.at(key), field), component,
               "{}: field '{}.{}' has the wrong type or is out of range ({})", source, section, key,
               j.at(key).dump());
  });
  if (known != j.size()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool found = false;
      fields(c, [&](const char* key, auto&) { found = found || it.key() == key; });
      AVLA_CHECK(found, component, "{}: unknown field '{}.{}'", source, section, it.key());
    }
  }
  return c;
}

// the struct as a json object with one key per field of the table
template <typename Struct, typename Fields>
nlohmann::json struct_to_json(const Struct& c, Fields&& fields) {
  nlohmann::json j = nlohmann::json::object();
  fields(c, [&](const char* key, const auto& v) { j[key] = v; });
  return j;
}

}  // namespace avla
