// reading a json file with one error that names the component and the file, and config-like
// structs to and from json through one table of fields (so json and struct cannot drift).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "util/error.h"

namespace avla {

// throws avla::Error(component, "<path>: ...") when the file is unreadable or not json.
nlohmann::json read_json_file(const std::string& path, const std::string& component);

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
    try {
      field = j.at(key).get<std::decay_t<decltype(field)>>();
    } catch (const nlohmann::json::exception&) {
      fail(component, "{}: field '{}.{}' has the wrong type ({})", source, section, key,
           j.at(key).dump());
    }
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
