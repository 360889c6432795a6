#include "io/hdf5_util.h"

#include <unistd.h>

#include "util/error.h"
#include "util/shape_bytes.h"

namespace avla {

namespace {

constexpr const char* kHdf5Component = "hdf5";

// the most bytes one dataset may take once read: this machine's physical memory
uint64_t hdf5_max_dataset_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return uint64_t{1} << 40;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
}

H5::PredType native_type(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return H5::PredType::NATIVE_FLOAT;
    case torch::kFloat64:
      return H5::PredType::NATIVE_DOUBLE;
    case torch::kUInt8:
      return H5::PredType::NATIVE_UINT8;
    case torch::kBool:
      return H5::PredType::NATIVE_UINT8;
    case torch::kInt64:
      return H5::PredType::NATIVE_INT64;
    case torch::kInt32:
      return H5::PredType::NATIVE_INT32;
    default:
      fail(kHdf5Component, "unsupported tensor dtype {}", c10::toString(dtype));
  }
}

// a dataset must hold in the file all the data its dataspace declares: a chunked one every chunk,
// a contiguous one every byte. otherwise libhdf5 fills the gaps with the fill value, and a few
// kilobytes of a corrupt (or truncated) file become gigabytes of memory. external raw files (data
// outside the HDF5 file, at paths the file names) are refused too.
void check_stored(const H5::DataSet& ds, const H5::DataSpace& space,
                  const std::vector<int64_t>& shape, const std::string& path,
                  const std::string& file) {
  H5::DSetCreatPropList props = ds.getCreatePlist();
  AVLA_CHECK(H5Pget_external_count(props.getId()) <= 0, kHdf5Component,
             "{}: dataset '{}' keeps its data in external files, which are not read", file, path);
  const H5D_layout_t layout = props.getLayout();
  if (layout == H5D_CHUNKED) {
    const int rank = props.getChunk(0, nullptr);
    std::vector<hsize_t> chunk(static_cast<size_t>(rank));
    props.getChunk(rank, chunk.data());
    AVLA_CHECK(rank == static_cast<int>(shape.size()), kHdf5Component,
               "{}: dataset '{}' has chunks of rank {} for a dataspace of rank {}", file, path,
               rank, shape.size());
    // the number of chunks the dataspace spans (no overflow: each factor is at most its dim,
    // and the dims' product was bounded by the caller)
    hsize_t want = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
      AVLA_CHECK(chunk[i] > 0, kHdf5Component, "{}: dataset '{}' has a chunk dim of 0", file, path);
      want *= (static_cast<hsize_t>(shape[i]) + chunk[i] - 1) / chunk[i];
    }
    // (libhdf5 1.10's H5S_ALL is broken here, its own docs say: pass the dataset's dataspace)
    hsize_t have = 0;
    AVLA_CHECK(H5Dget_num_chunks(ds.getId(), space.getId(), &have) >= 0, kHdf5Component,
               "{}: dataset '{}': cannot count its chunks", file, path);
    AVLA_CHECK(have == want, kHdf5Component,
               "{}: dataset '{}' stores {} of the {} chunks its shape spans; the rest was never "
               "written (a truncated or corrupt file)",
               file, path, have, want);
  } else if (layout == H5D_CONTIGUOUS) {
    const std::optional<uint64_t> want = shape_bytes(shape, ds.getDataType().getSize());
    const hsize_t have = ds.getStorageSize();
    AVLA_CHECK(want && have == *want, kHdf5Component,
               "{}: dataset '{}' stores {} of its {} bytes; the rest was never written (a "
               "truncated or corrupt file)",
               file, path, have, want.value_or(0));
  }
}

}  // namespace

void hdf5_quiet() {
  H5::Exception::dontPrint();
}

bool hdf5_exists(const H5::H5Location& loc, const std::string& path) {
  // walk the path one link at a time: H5Lexists needs every parent to exist
  size_t pos = 0;
  while (true) {
    size_t next = path.find('/', pos);
    std::string prefix = path.substr(0, next);
    if (!loc.nameExists(prefix)) return false;
    if (next == std::string::npos) return true;
    pos = next + 1;
  }
}

std::vector<int64_t> hdf5_shape(const H5::H5Location& loc, const std::string& path,
                                const std::string& file) {
  AVLA_CHECK(hdf5_exists(loc, path), kHdf5Component, "{}: missing dataset '{}'", file, path);
  try {
    H5::DataSpace space = loc.openDataSet(path).getSpace();
    std::vector<hsize_t> dims(static_cast<size_t>(space.getSimpleExtentNdims()));
    space.getSimpleExtentDims(dims.data());
    return {dims.begin(), dims.end()};
  } catch (const H5::Exception& e) {
    fail(kHdf5Component, "{}: cannot read the shape of dataset '{}': {}", file, path,
         e.getDetailMsg());
  }
}

torch::Tensor hdf5_read(const H5::H5Location& loc, const std::string& path, torch::ScalarType dtype,
                        const std::string& file) {
  AVLA_CHECK(hdf5_exists(loc, path), kHdf5Component, "{}: missing dataset '{}'", file, path);
  try {
    H5::DataSet ds = loc.openDataSet(path);
    H5::DataSpace space = ds.getSpace();
    const int rank = space.getSimpleExtentNdims();
    std::vector<hsize_t> dims(rank);
    space.getSimpleExtentDims(dims.data());
    std::vector<int64_t> shape(dims.begin(), dims.end());
    H5T_class_t cls = ds.getTypeClass();
    AVLA_CHECK(cls == H5T_INTEGER || cls == H5T_FLOAT, kHdf5Component,
               "{}: dataset '{}' is not numeric", file, path);
    // the dims come from the file: bound the bytes before allocating (a corrupt dataspace can
    // ask for petabytes, and LibTorch's own out-of-memory error names neither file nor dataset)
    const uint64_t limit = hdf5_max_dataset_bytes();
    const std::optional<uint64_t> bytes = shape_bytes(shape, c10::elementSize(dtype));
    AVLA_CHECK(bytes, kHdf5Component, "{}: dataset '{}' has shape {}, whose size overflows 64 bits",
               file, path, c10::str(c10::IntArrayRef(shape)));
    AVLA_CHECK(*bytes <= limit, kHdf5Component,
               "{}: dataset '{}' of shape {} would take more than {} bytes (this machine's memory)",
               file, path, c10::str(c10::IntArrayRef(shape)), limit);
    if (*bytes > 0) check_stored(ds, space, shape, path, file);
    torch::Tensor out = torch::empty(shape, torch::TensorOptions().dtype(dtype));
    if (out.numel() > 0) ds.read(out.data_ptr(), native_type(dtype));
    return out;
  } catch (const H5::Exception& e) {
    fail(kHdf5Component, "{}: cannot read dataset '{}': {}", file, path, e.getDetailMsg());
  }
}

void hdf5_write(H5::Group& loc, const std::string& name, const torch::Tensor& tensor) {
  torch::Tensor t = tensor.contiguous();
  if (t.scalar_type() == torch::kBool) t = t.to(torch::kUInt8);
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  H5::DSetCreatPropList props;
  if (t.scalar_type() == torch::kUInt8 && dims.size() >= 3 && dims[0] > 0) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = 1;
    props.setChunk(static_cast<int>(chunk.size()), chunk.data());
    props.setDeflate(4);
  }
  H5::DataSet ds = loc.createDataSet(name, native_type(t.scalar_type()), space, props);
  if (t.numel() > 0) ds.write(t.data_ptr(), native_type(t.scalar_type()));
}

std::string hdf5_read_string_attr(const H5::H5Object& obj, const std::string& name,
                                  const std::string& file, const std::string& where) {
  AVLA_CHECK(obj.attrExists(name), kHdf5Component, "{}: '{}' has no attribute '{}'", file, where,
             name);
  try {
    H5::Attribute attr = obj.openAttribute(name);
    H5::StrType type = attr.getStrType();
    std::string value;
    attr.read(type, value);
    // fixed-length strings may carry trailing nuls
    while (!value.empty() && value.back() == '\0') value.pop_back();
    return value;
  } catch (const H5::Exception& e) {
    fail(kHdf5Component, "{}: attribute '{}' of '{}' is not a string: {}", file, name, where,
         e.getDetailMsg());
  }
}

void hdf5_write_string_attr(H5::H5Object& obj, const std::string& name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  H5::Attribute attr = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  attr.write(type, value);
}

void hdf5_write_int_attr(H5::H5Object& obj, const std::string& name, int64_t value) {
  H5::Attribute attr =
      obj.createAttribute(name, H5::PredType::NATIVE_INT64, H5::DataSpace(H5S_SCALAR));
  attr.write(H5::PredType::NATIVE_INT64, &value);
}

int64_t hdf5_read_int_attr(const H5::H5Object& obj, const std::string& name,
                           const std::string& file, const std::string& where) {
  AVLA_CHECK(obj.attrExists(name), kHdf5Component, "{}: '{}' has no attribute '{}'", file, where,
             name);
  try {
    int64_t value = 0;
    obj.openAttribute(name).read(H5::PredType::NATIVE_INT64, &value);
    return value;
  } catch (const H5::Exception& e) {
    fail(kHdf5Component, "{}: attribute '{}' of '{}' is not an integer: {}", file, name, where,
         e.getDetailMsg());
  }
}

}  // namespace avla
