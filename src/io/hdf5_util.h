// hdf5 helpers: read a dataset into a torch tensor, write a tensor as a dataset, string attrs.
// every failure is an avla::Error("hdf5", "<file>: <dataset>: ...") naming file and field.
#pragma once

#include <H5Cpp.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace avla {

// silences the hdf5 library's own stack printing (errors become exceptions with our message).
void hdf5_quiet();

bool hdf5_exists(const H5::H5Location& loc, const std::string& path);

// the dims of dataset `path` (relative to loc), read from its header alone: a reader checks them
// before hdf5_read allocates and fills what a corrupt header claims.
std::vector<int64_t> hdf5_shape(const H5::H5Location& loc, const std::string& path,
                                const std::string& file);

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
