#include "io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace avla {

namespace {

// 0, or the errno of a failed open / fsync (a full disk can surface only here)
int fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return errno;
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

// temp files are "<path><kTempMarker><pid>"; remove_stale_temps reads the pid back
constexpr char kTempMarker[] = ".tmp.";

std::string atomic_temp_path(const std::string& path) {
  return path + kTempMarker + std::to_string(static_cast<long>(getpid()));
}

void commit_atomic(const std::string& temp, const std::string& path) {
  if (const int err = fsync_path(temp)) {
    std::remove(temp.c_str());
    fail("io", "cannot write '{}': {} (while syncing it to disk); the previous '{}' is unchanged",
         temp, std::strerror(err), path);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(temp.c_str());
    fail("io", "cannot rename '{}' to '{}': {}", temp, path, std::strerror(err));
  }
}

void write_atomic_with(const std::string& path,
                       const std::function<void(const std::string& temp_path)>& write_to) {
  const std::string temp = atomic_temp_path(path);
  try {
    write_to(temp);
  } catch (...) {
    std::remove(temp.c_str());
    throw;
  }
  commit_atomic(temp, path);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_atomic_with(path, [&](const std::string& temp) {
    errno = 0;
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    AVLA_CHECK(out.good(), "io", "cannot open '{}' for writing: {}; the previous '{}' is unchanged",
               temp, std::strerror(errno), path);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    // a full disk or a file-size limit (EFBIG) ends up here; the temp file is removed
    AVLA_CHECK(out.good(), "io",
               "cannot write {} bytes to '{}': {}; the previous '{}' is unchanged", bytes.size(),
               temp, errno != 0 ? std::strerror(errno) : "short write", path);
  });
}

int remove_stale_temps(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  int removed = 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t marker = sizeof(kTempMarker) - 1;
    const size_t at = name.rfind(kTempMarker);
    if (at == std::string::npos || at + marker >= name.size()) continue;
    const std::string pid_text = name.substr(at + marker);
    if (pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::stol(pid_text);
    const bool alive = pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
    if (!alive && fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  AVLA_CHECK(in.good(), "io", "cannot open '{}' for reading", path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace avla
