// reads of outside files in a forked child. libhdf5 1.10 crashes on some corrupt files, writes
// past its buffers on others (the process dies later, at an unrelated free) and loops forever on
// others (docs/RELIABILITY.md). so the process that trains, evaluates or serves never runs the
// library on a file from outside: a child reads and checks it, then sends the result back through
// a pipe as typed frames, and the parent rebuilds it. a child that dies, outlives the deadline or
// sends a broken stream becomes one error naming the file; an avla::Error in the child is thrown
// again in the parent, unchanged.
//   ASYNCVLA_HDF5_GUARD=0          read in this process (scripts/fuzz.sh: it must see the crashes)
//   ASYNCVLA_HDF5_GUARD_TIMEOUT=S  the child's deadline in seconds (default 300)
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace avla {

// the child's end of the pipe: frames in the order the parent reads them
class ChildWriter {
 public:
  explicit ChildWriter(int fd) : fd_(fd) {}
  void u64(uint64_t value);
  void string(const std::string& text);
  // dtype, rank, dims, then the contiguous bytes; an undefined tensor is one frame too
  void tensor(const torch::Tensor& t);

 private:
  void bytes(const void* data, size_t n);
  int fd_;
};

// the parent's end: the same frames, each read before the deadline; a short stream or a frame
// that makes no sense throws avla::Error("child", ...)
class ChildReader {
 public:
  ChildReader(int fd, std::chrono::steady_clock::time_point deadline)
      : fd_(fd), deadline_(deadline) {}
  uint64_t u64();
  std::string string();
  torch::Tensor tensor();

 private:
  void bytes(void* data, size_t n);
  int fd_;
  std::chrono::steady_clock::time_point deadline_;
};

// false when ASYNCVLA_HDF5_GUARD=0: the caller then reads in this process
bool child_read_enabled();

// in a forked child: read() (the whole read and its checks), then send(writer). here:
// receive(reader). errors name file: "[hdf5] <file>: the HDF5 library crashed reading this file
// (Segmentation fault); the file is corrupt", "... did not finish reading this file in 300 s ...".
void read_in_child(const std::string& file, const std::function<void()>& read,
                   const std::function<void(ChildWriter&)>& send,
                   const std::function<void(ChildReader&)>& receive);

}  // namespace avla
