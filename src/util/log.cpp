#include "util/log.h"

#include <unistd.h>

#include <ctime>

namespace avla {

namespace {
bool g_log_enabled = true;
}  // namespace

void set_log_enabled(bool enabled) {
  g_log_enabled = enabled;
}

void log_line(const std::string& line) {
  if (!g_log_enabled) return;
  std::time_t now = std::time(nullptr);
  std::tm tm_now{};
  localtime_r(&now, &tm_now);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm_now);
  std::fprintf(stderr, "%s %s\n", stamp, line.c_str());
  std::fflush(stderr);
}

bool stderr_is_terminal() {
  return isatty(fileno(stderr)) != 0;
}

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total > 0 ? total : 1),
      enabled_(g_log_enabled && stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(int64_t done, const std::string& suffix) {
  if (!enabled_ || finished_) return;
  const int width = 30;
  double frac = static_cast<double>(done) / static_cast<double>(total_);
  if (frac > 1.0) frac = 1.0;
  int filled = static_cast<int>(frac * width);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta = done > 0 ? secs * (static_cast<double>(total_ - done) / done) : 0.0;
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %3.0f%% eta %4.0fs %s\033[K", label_.c_str(),
               bar.c_str(), static_cast<long long>(done), static_cast<long long>(total_),
               100.0 * frac, eta, suffix.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace avla
