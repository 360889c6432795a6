// reads of outside files in a child process. libhdf5 1.10 crashes on some corrupt files, writes
// past its buffers on others (the process dies later, at an unrelated free) and loops forever on
// others (docs/RELIABILITY.md). so the process that trains, evaluates or serves never runs the
// library on a file from outside: a child reads and checks it, then sends the result back through
// a socket as typed frames, and the parent rebuilds it. a child that dies, outlives the deadline
// or sends a broken stream becomes one error naming the file; an avla::Error in the child is
// thrown again in the parent, unchanged.
//
// the child is a forked copy when this process runs one thread (the usual case: ~1 ms), and this
// same program started afresh (posix_spawn of /proc/self/exe, ~0.4 s of CPU) when it runs more: a
// forked copy of a threaded process (a rank's store and Gloo threads) may only call
// async-signal-safe functions, and under ASan it deadlocked in the allocator on a lock another
// thread held at the fork. so every program that reads outside files calls
// serve_child_read_if_asked() first thing in main().
//   ASYNCVLA_HDF5_GUARD=0          read in this process (scripts/fuzz.sh: it must see the crashes)
//   ASYNCVLA_HDF5_GUARD_TIMEOUT=S  the child's deadline in seconds (default 300)
//   ASYNCVLA_HDF5_GUARD_MEMORY_MB=M  memory the child may allocate beyond what it starts with
//                                  (default 8192; its address space is capped, RLIMIT_AS)
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace avla {

// the writing end of the socket: frames in the order the other side reads them
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

// the reading end: the same frames, each read before the deadline; a short stream or a frame
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

// how a read started now gets its child: true, forked (this process runs one thread); false, this
// program started afresh
bool child_read_forks();

// what a child does with its request (frames: a path, or a name and a file's bytes): the whole
// read and its checks, returning how to send the result. registered by name, before main(), by
// the file that reads the format
using ChildSend = std::function<void(ChildWriter&)>;
using ChildRead = std::function<ChildSend(ChildReader& request)>;
bool register_child_read(const std::string& kind, ChildRead read);

// in a child started by read_in_child: serve its one request and exit. otherwise return at once
void serve_child_read_if_asked();

// starts the reading child, sends it request(writer) for the registered read `kind`, and
// receives the result here with receive(reader). errors name file: "[hdf5] <file>: the HDF5
// library crashed reading this file (Segmentation fault); the file is corrupt", "... did not
// finish reading this file in 300 s ...", "... needed more than the 8192 MB ...".
void read_in_child(const std::string& file, const std::string& kind,
                   const std::function<void(ChildWriter&)>& request,
                   const std::function<void(ChildReader&)>& receive);

}  // namespace avla
