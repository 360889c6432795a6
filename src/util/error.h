// errors: one exception type whose message starts with the component, and check macros.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace avla {

// an error that names the component ("[safetensors] ...") and what was expected vs found.
class Error : public std::runtime_error {
 public:
  Error(const std::string& component, const std::string& message)
      : std::runtime_error("[" + component + "] " + message), component_(component) {}
  const std::string& component() const { return component_; }

 private:
  std::string component_;
};

template <typename... Args>
[[noreturn]] void fail(const std::string& component, fmt::format_string<Args...> format,
                       Args&&... args) {
  throw Error(component, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace avla

// AVLA_CHECK(cond, "component", "format {}", args...): throws avla::Error when cond is false.
#define AVLA_CHECK(cond, component, ...)    \
  do {                                      \
    if (!(cond)) {                          \
      ::avla::fail(component, __VA_ARGS__); \
    }                                       \
  } while (0)
