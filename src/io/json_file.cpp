#include "io/json_file.h"

#include "io/atomic_file.h"
#include "util/error.h"

namespace avla {

nlohmann::json read_json_file(const std::string& path, const std::string& component) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error&) {
    fail(component, "cannot read '{}'", path);
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(component, "{}: not valid JSON ({})", path, e.what());
  }
}

}  // namespace avla
