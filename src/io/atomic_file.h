// atomic file writes: write to "<path>.tmp.<pid>", fsync, rename over the target.
// a reader never sees a half-written file, and an interrupted write leaves the old file intact.
#pragma once

#include <functional>
#include <string>

namespace avla {

// writes bytes to path atomically; throws avla::Error("io", ...) naming the path on failure.
void write_file_atomic(const std::string& path, const std::string& bytes);

// runs write_to(temp_path) and renames the temp file over path; removes the temp on failure.
void write_atomic_with(const std::string& path,
                       const std::function<void(const std::string& temp_path)>& write_to);

// for writers that stream into the temp file themselves: the temp name for path, and the
// fsync + rename that publishes it (removes the temp when the rename fails).
std::string atomic_temp_path(const std::string& path);
void commit_atomic(const std::string& temp, const std::string& path);

// removes the temp files ("<name>.tmp.<pid>") in dir that processes no longer running left behind
// (a writer killed mid-write); returns how many. temps of live processes are left alone.
int remove_stale_temps(const std::string& dir);

// reads a whole file; throws avla::Error("io", ...) naming the path when it cannot.
std::string read_file(const std::string& path);

}  // namespace avla
