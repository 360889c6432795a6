#include "data/libero_file.h"

#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/child_read.h"
#include "io/hdf5_util.h"
#include "util/error.h"

namespace avla {

namespace {

constexpr const char* kLiberoComponent = "libero";

// demo_<i> names sorted by i (demo_10 after demo_9)
std::vector<std::string> demo_names(const H5::Group& data, const std::string& path) {
  std::vector<std::pair<long, std::string>> found;
  for (hsize_t i = 0; i < data.getNumObjs(); ++i) {
    std::string name = data.getObjnameByIdx(i);
    if (name.rfind("demo_", 0) != 0) continue;
    char* end = nullptr;
    long index = std::strtol(name.c_str() + 5, &end, 10);
    AVLA_CHECK(end != nullptr && *end == '\0' && end != name.c_str() + 5, kLiberoComponent,
               "{}: group 'data/{}' is not named demo_<index>", path, name);
    found.emplace_back(index, name);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> names;
  for (auto& f : found) names.push_back(f.second);
  return names;
}

// expected dims of -1 match any size and print as '*'
void check_shape(const std::vector<int64_t>& shape, const std::vector<int64_t>& expected,
                 const std::string& file, const std::string& field) {
  bool ok = shape.size() == expected.size();
  std::string want = "[";
  for (size_t i = 0; i < expected.size(); ++i) {
    ok = ok && (expected[i] < 0 || shape[i] == expected[i]);
    want += (i ? ", " : "") + (expected[i] < 0 ? std::string("*") : std::to_string(expected[i]));
  }
  AVLA_CHECK(ok, kLiberoComponent, "{}: dataset '{}' has shape {}, expected {}]", file, field,
             c10::str(c10::IntArrayRef(shape)), want);
}

void check_finite(const torch::Tensor& t, const std::string& file, const std::string& field) {
  torch::Tensor bad = torch::isfinite(t).logical_not();
  if (!bad.any().item<bool>()) return;
  int64_t row = bad.nonzero()[0][0].item<int64_t>();
  fail(kLiberoComponent, "{}: dataset '{}' has NaN or Inf at row {}", file, field, row);
}

// the fields of an open file; path names it in errors
LiberoFile read_open_file(const H5::H5File& file, const std::string& path) {
  LiberoFile out;
  out.path = path;
  AVLA_CHECK(hdf5_exists(file, "data"), kLiberoComponent, "{}: missing group 'data'", path);
  H5::Group data = file.openGroup("data");
  out.problem_info = hdf5_read_string_attr(data, "problem_info", path, "data");
  try {
    auto info = nlohmann::json::parse(out.problem_info);
    out.language_instruction = info.at("language_instruction").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail(kLiberoComponent,
         "{}: attribute 'data.problem_info' has no language_instruction string ({})", path,
         e.what());
  }
  if (data.attrExists("env_args"))
    out.env_args = hdf5_read_string_attr(data, "env_args", path, "data");

  auto names = demo_names(data, path);
  AVLA_CHECK(!names.empty(), kLiberoComponent, "{}: group 'data' holds no demo_<i> groups", path);
  for (const auto& name : names) {
    const std::string base = "data/" + name + "/";
    // each field: check its shape (-1: any) from the header, read, optionally check it is finite
    auto read = [&](const std::string& field, torch::ScalarType dtype,
                    const std::vector<int64_t>& shape, bool finite) {
      check_shape(hdf5_shape(file, base + field, path), shape, path, base + field);
      torch::Tensor t = hdf5_read(file, base + field, dtype, path);
      if (finite) check_finite(t, path, base + field);
      return t;
    };
    LiberoDemo demo;
    demo.actions = read("actions", torch::kFloat64, {-1, 7}, true);
    const int64_t T = demo.actions.size(0);
    AVLA_CHECK(T > 0, kLiberoComponent, "{}: dataset '{}actions' is empty", path, base);
    demo.agentview_rgb = read("obs/agentview_rgb", torch::kUInt8, {T, -1, -1, 3}, false);
    // the wrist camera, where the robot has one (our bridge suite and Bridge-V2 have none)
    if (hdf5_exists(file, base + "obs/eye_in_hand_rgb")) {
      demo.eye_in_hand_rgb = read("obs/eye_in_hand_rgb", torch::kUInt8, {T, -1, -1, 3}, false);
    }
    demo.ee_states = read("obs/ee_states", torch::kFloat64, {T, 6}, true);
    demo.gripper_states = read("obs/gripper_states", torch::kFloat64, {T, 2}, true);
    // our simulator's privileged object state, when the file has it (the dataset checks its width
    // and values only for a run that uses it: a privileged state or the auxiliary object loss)
    if (hdf5_exists(file, base + "obs/object_states")) {
      demo.object_states = read("obs/object_states", torch::kFloat64, {T, -1}, false);
    }
    out.demos.push_back(std::move(demo));
  }
  return out;
}

// read_open_file, with any hdf5 error the helpers did not name (a group that is a dataset, a
// broken b-tree, an unreadable attribute) turned into one error naming the file
LiberoFile read_checked(const H5::H5File& file, const std::string& path) {
  try {
    return read_open_file(file, path);
  } catch (const H5::Exception& e) {
    fail(kLiberoComponent, "{}: broken HDF5 structure ({}: {})", path, e.getFuncName(),
         e.getDetailMsg());
  }
}

LiberoFile read_file_direct(const std::string& path) {
  hdf5_quiet();
  H5::H5File file;
  try {
    file.openFile(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    fail(kLiberoComponent, "{}: cannot open as HDF5 ({})", path, e.getDetailMsg());
  }
  return read_checked(file, path);
}

LiberoFile read_image_direct(const std::string& bytes, const std::string& name) {
  hdf5_quiet();
  // the core driver opens the image in memory; nothing is read from or written to disk
  H5::FileAccPropList fapl;
  H5::H5File file;
  try {
    AVLA_CHECK(H5Pset_fapl_core(fapl.getId(), 1 << 16, /*backing_store=*/0) >= 0, kLiberoComponent,
               "{}: cannot set up the in-memory HDF5 driver", name);
    AVLA_CHECK(H5Pset_file_image(fapl.getId(), const_cast<char*>(bytes.data()), bytes.size()) >= 0,
               kLiberoComponent, "{}: cannot hand {} bytes to HDF5", name, bytes.size());
    file.openFile(name, H5F_ACC_RDONLY, fapl);
  } catch (const H5::Exception& e) {
    fail(kLiberoComponent, "{}: cannot open as HDF5 ({})", name, e.getDetailMsg());
  }
  return read_checked(file, name);
}

// the demo tensors a read fills, in the order they travel through the child's socket
// (io/child_read.h): one list for both ends. Demo is LiberoDemo or const LiberoDemo
template <typename Demo>
auto streamed_fields(Demo& d) {
  return std::array{&d.actions,   &d.agentview_rgb,  &d.eye_in_hand_rgb,
                    &d.ee_states, &d.gripper_states, &d.object_states};
}

void send_file(ChildWriter& w, const LiberoFile& f) {
  w.string(f.problem_info);
  w.string(f.env_args);
  w.string(f.language_instruction);
  w.u64(f.demos.size());
  for (const LiberoDemo& d : f.demos) {
    for (const torch::Tensor* t : streamed_fields(d)) w.tensor(*t);
  }
}

LiberoFile receive_file(ChildReader& r, const std::string& path) {
  LiberoFile f;
  f.path = path;
  f.problem_info = r.string();
  f.env_args = r.string();
  f.language_instruction = r.string();
  const uint64_t n = r.u64();
  AVLA_CHECK(n > 0 && n <= (uint64_t{1} << 24), "child", "{} demos", n);
  f.demos.resize(n);
  for (LiberoDemo& d : f.demos) {
    for (torch::Tensor* t : streamed_fields(d)) *t = r.tensor();
    AVLA_CHECK(d.actions.defined() && d.actions.dim() == 2 && d.actions.size(0) > 0, "child",
               "a demo without actions");
  }
  return f;
}

// the reads a reading child serves (io/child_read.h): a path, or a name and a file's bytes
ChildSend send_result(LiberoFile f) {
  auto result = std::make_shared<LiberoFile>(std::move(f));
  return [result](ChildWriter& w) { send_file(w, *result); };
}
[[maybe_unused]] const bool registered_reads =
    register_child_read("libero_file",
                        [](ChildReader& r) { return send_result(read_file_direct(r.string())); }) &&
    register_child_read("libero_image", [](ChildReader& r) {
      const std::string name = r.string();
      return send_result(read_image_direct(r.string(), name));
    });

// read in a child process, unless ASYNCVLA_HDF5_GUARD=0
LiberoFile read_isolated(const std::string& name, const std::string& kind,
                         const std::function<void(ChildWriter&)>& request,
                         const std::function<LiberoFile()>& read_here) {
  if (!child_read_enabled()) return read_here();
  LiberoFile out;
  read_in_child(name, kind, request, [&](ChildReader& r) { out = receive_file(r, name); });
  return out;
}

}  // namespace

LiberoFile read_libero_file(const std::string& path) {
  return read_isolated(
      path, "libero_file", [&](ChildWriter& w) { w.string(path); },
      [&] { return read_file_direct(path); });
}

LiberoFile read_libero_image(const std::string& bytes, const std::string& name) {
  return read_isolated(
      name, "libero_image",
      [&](ChildWriter& w) {
        w.string(name);
        w.string(bytes);
      },
      [&] { return read_image_direct(bytes, name); });
}

void write_libero_file(const std::string& path, const std::string& problem_info,
                       const std::string& env_args, const std::vector<LiberoDemo>& demos) {
  hdf5_quiet();
  write_atomic_with(path, [&](const std::string& temp) {
    try {
      H5::H5File file(temp, H5F_ACC_TRUNC);
      H5::Group data = file.createGroup("data");
      hdf5_write_string_attr(data, "problem_info", problem_info);
      hdf5_write_string_attr(data, "env_args", env_args);
      hdf5_write_int_attr(data, "num_demos", static_cast<int64_t>(demos.size()));
      int64_t total = 0;
      for (size_t i = 0; i < demos.size(); ++i) {
        const LiberoDemo& d = demos[i];
        total += d.length();
        H5::Group g = data.createGroup("demo_" + std::to_string(i));
        hdf5_write_int_attr(g, "num_samples", d.length());
        H5::Group obs = g.createGroup("obs");
        auto put = [](H5::Group& where, const char* name, const torch::Tensor& t) {
          if (t.defined()) hdf5_write(where, name, t);
        };
        put(g, "actions", d.actions);
        put(g, "states", d.states);
        put(g, "robot_states", d.robot_states);
        put(g, "rewards", d.rewards);
        put(g, "dones", d.dones);
        put(g, "init_state", d.init_state);
        put(obs, "agentview_rgb", d.agentview_rgb);
        put(obs, "eye_in_hand_rgb", d.eye_in_hand_rgb);
        put(obs, "joint_states", d.joint_states);
        put(obs, "gripper_states", d.gripper_states);
        put(obs, "ee_states", d.ee_states);
        put(obs, "ee_pos", d.ee_pos);
        put(obs, "ee_ori", d.ee_ori);
        put(obs, "object_states", d.object_states);
      }
      hdf5_write_int_attr(data, "total", total);
    } catch (const H5::Exception& e) {
      fail(kLiberoComponent, "{}: cannot write ({})", path, e.getDetailMsg());
    }
  });
}

}  // namespace avla
