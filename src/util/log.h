// logging: one line per event to stderr with a timestamp, and a progress bar on terminals.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace avla {

void log_line(const std::string& line);

// off: log lines and progress bars print nothing (the ranks of a data-parallel run but rank 0);
// errors still reach stderr through main()
void set_log_enabled(bool enabled);

template <typename... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
  log_line(fmt::format(format, std::forward<Args>(args)...));
}

// true when stderr is an interactive terminal (progress bars only then).
bool stderr_is_terminal();

// a progress bar that redraws in place on a terminal and prints nothing otherwise;
// callers print their own log line every few steps so pipes and CI still see progress.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  ~ProgressBar();
  void update(int64_t done, const std::string& suffix = "");
  void finish();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

// wall-clock timer in milliseconds.
class Timer {
 public:
  Timer() : start_(std::chrono::steady_clock::now()) {}
  double elapsed_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
        .count();
  }
  void reset() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace avla
