// demonstrations: a collected file is LIBERO-layout HDF5 that h5py and our reader both read.
#include "sim/collect.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "data/libero_file.h"
#include "eval/video_writer.h"
#include "io/png_file.h"
#include "test_util.h"
#include "video_probe.h"

namespace avla::sim {
namespace {

TEST(Collect, NoOpActionsAreDetected) {
  const Action still = {0, 0, 0, 0, 0, 0, -1}, grip = {0, 0, 0, 0, 0, 0, 1};
  const Action move = {0.01, 0, 0, 0, 0, 0, -1};
  EXPECT_TRUE(is_noop(still, &still));
  EXPECT_FALSE(is_noop(grip, &still));  // the gripper changed
  EXPECT_FALSE(is_noop(move, &still));
  EXPECT_TRUE(is_noop(still, nullptr));
}

TEST(Collect, FileIsLiberoLayoutForH5pyAndOurReader) {
  const std::string dir = test::temp_dir("collect");
  CollectOptions o;
  o.suite = "goal";
  o.tasks = {"cube_on_plate"};
  o.episodes = 2;
  o.out_dir = dir;
  o.resolution = 32;
  const auto paths = collect_demonstrations(o);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0], dir + "/cube_on_plate_demo.hdf5");
  // no temp file is left behind
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);

  // our reader: two demos, the instruction, finite actions in [-1, 1]
  const LiberoFile f = read_libero_file(paths[0]);
  EXPECT_EQ(f.language_instruction, "put the red cube on the plate");
  ASSERT_EQ(f.demos.size(), 2u);
  for (const auto& d : f.demos) {
    EXPECT_GT(d.length(), 20);
    EXPECT_LE(d.actions.abs().max().item<double>(), 1.0);
    EXPECT_EQ(d.agentview_rgb.sizes(), (std::vector<int64_t>{d.length(), 32, 32, 3}));
  }

  // h5py (Debian's python3-h5py): groups, shapes, dtypes and attributes of the LIBERO layout
  const std::string script = dir + "/check.py";
  std::ofstream(script) << R"PY(
import json, sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
data = f["data"]
info = json.loads(data.attrs["problem_info"])
assert info["language_instruction"] == "put the red cube on the plate", info
env_args = json.loads(data.attrs["env_args"])
assert env_args["env_kwargs"]["camera_heights"] == 32
assert int(data.attrs["num_demos"]) == 2
total = 0
for i in range(2):
    g = data[f"demo_{i}"]
    T = int(g.attrs["num_samples"])
    total += T
    assert g["actions"].shape == (T, 7) and g["actions"].dtype == np.float64
    assert np.all(np.abs(g["actions"][:]) <= 1.0)
    for cam in ("agentview_rgb", "eye_in_hand_rgb"):
        assert g["obs"][cam].shape == (T, 32, 32, 3) and g["obs"][cam].dtype == np.uint8, cam
    shapes = {"joint_states": 7, "gripper_states": 2, "ee_states": 6, "ee_pos": 3, "ee_ori": 3,
              "object_states": 41}
    for k, n in shapes.items():
        assert g["obs"][k].shape == (T, n) and g["obs"][k].dtype == np.float64, k
    S = g["states"].shape[1]
    assert g["states"].shape == (T, S) and S > 20
    assert g["robot_states"].shape == (T, 9)
    assert g["rewards"].shape == (T,) and g["dones"].shape == (T,)
    assert g["dones"][-1] == 1 and g["rewards"][-1] == 1 and g["dones"][:-1].sum() == 0
    assert np.array_equal(g["init_state"][:], g["states"][0])
    assert np.allclose(g["obs"]["ee_states"][:, :3], g["obs"]["ee_pos"][:])
assert int(data.attrs["total"]) == total
print("ok", total)
)PY";
  const std::string cmd = "/usr/bin/python3 " + script + " " + paths[0] + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::filesystem::remove_all(dir);
}

TEST(Collect, UnknownTaskAndEvalSeedsAreErrors) {
  CollectOptions o;
  o.suite = "goal";
  o.tasks = {"juggle"};
  o.out_dir = test::temp_dir("collect_bad");
  test::expect_error([&] { collect_demonstrations(o); }, {"no task 'juggle'"});
  o.tasks = {};
  o.seed = eval_seed_offset;
  test::expect_error([&] { collect_demonstrations(o); }, {"--seed", "evaluation"});
  o.seed = 0;
  o.regrasp = 1.5;
  test::expect_error([&] { collect_demonstrations(o); }, {"--regrasp 1.5", "[0, 1]"});
}

TEST(Media, PngRoundTripAndMp4Container) {
  const std::string dir = test::temp_dir("media");
  std::vector<uint8_t> rgb(6 * 4 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  write_png(dir + "/a.png", rgb.data(), 6, 4);
  int w = 0, h = 0;
  EXPECT_EQ(read_png(dir + "/a.png", &w, &h), rgb);
  EXPECT_EQ(w, 6);
  EXPECT_EQ(h, 4);
  {
    VideoWriter video(dir + "/v.mp4", 32, 16, 20);
    std::vector<uint8_t> frame(32 * 16 * 3);
    for (int t = 0; t < 10; ++t) {
      std::fill(frame.begin(), frame.end(), static_cast<uint8_t>(20 * t));
      video.add_frame(frame.data());
    }
    video.finish();
    EXPECT_EQ(video.frames(), 10);
  }
  std::ifstream in(dir + "/v.mp4", std::ios::binary);
  std::string head(12, '\0');
  in.read(head.data(), 12);
  EXPECT_EQ(head.substr(4, 4), "ftyp");  // an ISO-BMFF (mp4) file
  // decoded back: every frame, in order, at its size and grey level (rgb grey g -> luma
  // 16 + 219 g / 255 in limited range)
  const test::DecodedVideo decoded = test::decode_video(dir + "/v.mp4");
  EXPECT_EQ(decoded.width, 32);
  EXPECT_EQ(decoded.height, 16);
  ASSERT_EQ(decoded.frame_luma.size(), 10u) << decoded.codec;
  for (int t = 0; t < 10; ++t) {
    EXPECT_NEAR(decoded.frame_luma[t], 16 + 219.0 * (20 * t) / 255, 3.0) << "frame " << t;
  }
  test::expect_error([&] { VideoWriter v(dir + "/odd.mp4", 31, 16, 20); }, {"even"});
  // an abandoned writer leaves nothing behind
  { VideoWriter v(dir + "/gone.mp4", 32, 16, 20); }
  EXPECT_FALSE(std::filesystem::exists(dir + "/gone.mp4"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace avla::sim
