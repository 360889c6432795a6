// hdf5 helpers: read a dataset into a torch tensor, write a tensor as a dataset, string attrs.
// every failure is an avla::Error("hdf5", "<file>: <dataset>: ...") naming file and field.
#pragma once

#include <H5Cpp.h>
#include <torch/torch.h>

#include <functional>
#include <string>

namespace avla {

// silences the hdf5 library's own stack printing (errors become exceptions with our message).
void hdf5_quiet();

// runs read (hdf5 reads of a file from outside) in a forked child before the caller reads for
// real: libhdf5 1.10 itself writes past its buffers on some corrupt files (fuzz_libero found a
// global-heap object longer than its variable-length string attribute, in H5HG_read), which would
// kill this process. a child that ends by a signal, or by anything but a clean return or an
// avla::Error, is an error naming the file; the caller then never touches it. the child uses one
// thread and leaves with _exit (no atexit handlers, no sanitizer death callback).
// ASYNCVLA_HDF5_GUARD=0 in the environment turns the guard off (one read instead of two on a huge
// file you trust; scripts/fuzz.sh, which must see libhdf5's own crashes to count them).
void hdf5_read_in_child_first(const std::function<void()>& read, const std::string& file);

bool hdf5_exists(const H5::H5Location& loc, const std::string& path);

// reads dataset `path` (relative to loc) converted to dtype (kFloat32, kFloat64, kUInt8, kInt64).
torch::Tensor hdf5_read(const H5::H5Location& loc, const std::string& path, torch::ScalarType dtype,
                        const std::string& file);

// writes a contiguous tensor (float32/64, uint8, int64, bool) as dataset `name` under loc;
// image-like uint8 datasets with >= 3 dims are gzip-compressed in chunks of one frame.
void hdf5_write(H5::Group& loc, const std::string& name, const torch::Tensor& tensor);

std::string hdf5_read_string_attr(const H5::H5Object& obj, const std::string& name,
                                  const std::string& file, const std::string& where);
void hdf5_write_string_attr(H5::H5Object& obj, const std::string& name, const std::string& value);
void hdf5_write_int_attr(H5::H5Object& obj, const std::string& name, int64_t value);
int64_t hdf5_read_int_attr(const H5::H5Object& obj, const std::string& name,
                           const std::string& file, const std::string& where);

}  // namespace avla
