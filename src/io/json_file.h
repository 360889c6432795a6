// reading a json file with one error that names the component and the file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace avla {

// throws avla::Error(component, "<path>: ...") when the file is unreadable or not json.
nlohmann::json read_json_file(const std::string& path, const std::string& component);

}  // namespace avla
