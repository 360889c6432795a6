// the vision corpus: labels equal the simulator's state, slots cover every suite, frames are
// randomized and deterministic, and the written file reads back through the data side.
#include "sim/corpus.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "data/vision_corpus.h"
#include "io/tensor_file.h"
#include "sim/cabinet.h"
#include "sim/goals.h"
#include "test_util.h"

namespace avla::sim {
namespace {

// the corpus's tasks: the four LIBERO suites (two cameras)
std::vector<const Task*> all_tasks() {
  std::vector<const Task*> tasks;
  for (const auto& suite : libero_suite_names()) {
    for (const Task& t : suite_tasks(suite)) tasks.push_back(&t);
  }
  return tasks;
}

TEST(Corpus, SlotsCoverEveryClassWithSpatialsTwoRedCubes) {
  const CorpusSlots slots = corpus_slots(all_tasks());
  const std::set<std::string> names(slots.names.begin(), slots.names.end());
  EXPECT_EQ(names.size(), slots.names.size());
  EXPECT_TRUE(names.count("red_cube#0") && names.count("red_cube#1"));
  EXPECT_FALSE(names.count("red_cube#2"));
  EXPECT_TRUE(names.count("white_bowl#0") && names.count("brown_basket#0"));
  EXPECT_FALSE(names.count("white_bowl#1"));
  // the two red cubes of spatial fill their slots in order of y
  const Task& spatial = suite_tasks("spatial")[0];
  const std::vector<Vec3> pos = {{0.0, 0.2, 0.02}, {0.0, -0.1, 0.02}, {0.1, 0.0, 0}, {-0.1, 0, 0}};
  const std::vector<int> slot = slots.assign(spatial, pos);
  EXPECT_EQ(slots.names[slot[0]], "red_cube#1");
  EXPECT_EQ(slots.names[slot[1]], "red_cube#0");
  EXPECT_EQ(slots.names[slot[2]], "white_bowl#0");
  EXPECT_EQ(slots.names[slot[3]], "black_plate#0");
}

TEST(Corpus, FrameLabelsAreTheSimulatorState) {
  const auto tasks = all_tasks();
  const CorpusSlots slots = corpus_slots(tasks);
  EnvConfig config;
  config.image_size = 32;
  Env env(config);
  int moved_arm = 0, with_drawer = 0;
  for (const char* name : {"open_drawer", "cube_in_bowl"}) {
    const Task& task = find_task("goal", name);
    for (uint64_t seed = 0; seed < 4; ++seed) {
      std::mt19937_64 rng(seed);
      const CorpusFrame f = sample_corpus_frame(env, task, seed, slots, rng);
      // every object of the scene in its slot at its body's position, nothing else present
      int present = 0;
      for (size_t i = 0; i < task.scene.objects.size(); ++i) {
        const Vec3 p = env.physics().body_pose(task.scene.objects[i].name).pos;
        bool found = false;
        for (int s = 0; s < slots.size(); ++s) {
          if (!f.labels.slot_present[s]) continue;
          const bool same = std::abs(f.labels.slot_pos[3 * s] - p[0]) < 1e-6 &&
                            std::abs(f.labels.slot_pos[3 * s + 1] - p[1]) < 1e-6 &&
                            std::abs(f.labels.slot_pos[3 * s + 2] - p[2]) < 1e-6;
          found = found || same;
        }
        EXPECT_TRUE(found) << name << " seed " << seed << " object " << task.scene.objects[i].name;
      }
      // each slot's yaw labels are its object's yaw features: a cube's on the unit circle
      int with_yaw = 0;
      for (int s = 0; s < slots.size(); ++s) {
        const double norm = std::hypot(f.labels.slot_yaw[2 * s], f.labels.slot_yaw[2 * s + 1]);
        EXPECT_NEAR(norm, slots.yaw_order[s] == 4 && f.labels.slot_present[s] ? 1.0 : 0.0, 1e-6)
            << slots.names[s];
        with_yaw += norm > 0.5;
      }
      EXPECT_GE(with_yaw, 1) << name;  // both tasks hold a cube
      for (size_t i = 0; i < task.scene.objects.size(); ++i) {
        const Pose pose = env.physics().body_pose(task.scene.objects[i].name);
        const auto yaw = yaw_features(pose.quat, task.scene.objects[i].kind);
        bool found = false;
        for (int s = 0; s < slots.size(); ++s) {
          found = found || (f.labels.slot_present[s] &&
                            std::abs(f.labels.slot_pos[3 * s] - pose.pos[0]) < 1e-6 &&
                            std::abs(f.labels.slot_yaw[2 * s] - yaw[0]) < 1e-6 &&
                            std::abs(f.labels.slot_yaw[2 * s + 1] - yaw[1]) < 1e-6);
        }
        EXPECT_TRUE(found) << name << " seed " << seed << " yaw of " << task.scene.objects[i].name;
      }
      // in the grip's frame, a cube's label is its turn from the fingers: the grasp yaw error
      VisionCorpus one;
      one.slot_yaw = torch::tensor(f.labels.slot_yaw).view({1, slots.size(), 2});
      one.slot_yaw_order = slots.yaw_order;
      one.ee_rot6 = quat_to_rot6(
          torch::tensor(std::vector<float>(f.labels.ee_quat.begin(), f.labels.ee_quat.end()))
              .view({1, 4}));
      const torch::Tensor in_grip = one.yaw_in_grip_frame().slot_yaw[0];  // (k, 2)
      for (size_t i = 0; i < task.scene.objects.size(); ++i) {
        const auto& object = task.scene.objects[i];
        if (object.kind != ObjectKind::Cube) continue;
        const Pose pose = env.physics().body_pose(object.name);
        for (int s = 0; s < slots.size(); ++s) {
          if (!f.labels.slot_present[s] || std::abs(f.labels.slot_pos[3 * s] - pose.pos[0]) > 1e-6)
            continue;
          const double turn =
              std::abs(std::atan2(in_grip[s][0].item<double>(), in_grip[s][1].item<double>())) / 4 *
              180 / M_PI;
          EXPECT_NEAR(turn, grasp_yaw_error_deg(env.physics(), task, object.name), 1e-3)
              << name << " seed " << seed;
        }
      }
      for (uint8_t v : f.labels.slot_present) present += v;
      EXPECT_EQ(present, static_cast<int>(task.scene.objects.size()));
      EXPECT_EQ(f.labels.cabinet, 1.0f);
      EXPECT_FLOAT_EQ(f.labels.drawer, env.physics().joint_qpos("drawer_joint"));
      with_drawer += f.labels.drawer > 0.01;
      const Pose grip = env.controller().grip_pose();
      for (int k = 0; k < 3; ++k) EXPECT_FLOAT_EQ(f.labels.ee_pos[k], grip.pos[k]);
      EXPECT_GE(f.labels.ee_quat[0], 0.0f);
      EXPECT_FLOAT_EQ(f.labels.gripper[0], env.controller().finger_qpos()[0]);
      moved_arm += std::hypot(grip.pos[0] - home_grip_pos[0], grip.pos[1] - home_grip_pos[1],
                              grip.pos[2] - home_grip_pos[2]) > 0.03;
      EXPECT_EQ(f.observation.object_states, object_state(env.physics(), task));
      EXPECT_EQ(f.observation.agentview_rgb.size(), 32u * 32 * 3);
    }
  }
  // randomized: the arm leaves home and the drawer opens in most frames
  EXPECT_GE(moved_arm, 6);
  EXPECT_GE(with_drawer, 5);
}

TEST(Corpus, SameSeedSameFrameAndTheFileReadsBack) {
  const std::string dir = test::temp_dir("corpus");
  CorpusOptions options;
  options.suites = {"spatial", "goal"};
  options.frames = 6;
  options.resolution = 32;
  options.seed = 3;
  options.out = dir + "/a.safetensors";
  const double fps = write_corpus(options);
  EXPECT_GT(fps, 0.0);
  options.out = dir + "/b.safetensors";
  write_corpus(options);
  const VisionCorpus a = load_vision_corpus({dir + "/a.safetensors"}, 16);
  const VisionCorpus b = load_vision_corpus({dir + "/b.safetensors"}, 16);
  ASSERT_EQ(a.n_frames(), 6);
  EXPECT_EQ(a.images.sizes(), torch::IntArrayRef({6, 2, 3, 16, 16}));
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.slot_pos, b.slot_pos));
  // rot6 columns are unit vectors; the gripper is the mean finger opening
  EXPECT_LT((a.ee_rot6.narrow(1, 0, 3).norm(2, 1) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_LE(a.gripper.max().item<double>(), finger_open + 1e-6);
  // spatial and goal scenes: a red cube in every frame, a basket in none
  const auto slot = [&](const std::string& n) {
    return std::find(a.slots.begin(), a.slots.end(), n) - a.slots.begin();
  };
  EXPECT_EQ(a.slot_present.select(1, slot("red_cube#0")).sum().item<double>(), 6.0);
  EXPECT_EQ(a.slots.size(), 5u);  // red cube x2, white bowl, black plate, blue cylinder (goal)
  // yaw labels (format 2): the cubes' on the unit circle wherever present, never the bowl's
  ASSERT_TRUE(a.has_yaw());
  EXPECT_TRUE(torch::equal(a.slot_yaw, b.slot_yaw));
  EXPECT_EQ(a.slot_yaw_order, (std::vector<int>{0, 0, 4, 4, 0}));  // plate, cylinder, cubes, bowl
  const torch::Tensor cube_norm = a.slot_yaw.select(1, slot("red_cube#0")).norm(2, 1);
  EXPECT_LT((cube_norm - 1).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(a.slot_yaw.select(1, slot("white_bowl#0")).abs().max().item<double>(), 0.0);
  // a version-1 file (before the yaw labels) loads without them; mixed with version 2 it is an
  // error naming the file
  {
    std::map<std::string, std::string> meta;
    TensorMap t = load_tensor_map(dir + "/a.safetensors", &meta);
    t.erase("slot_yaw");
    meta["format"] = "asyncvla-vision-corpus-1";
    meta.erase("slot_yaw_order");
    save_tensor_map(dir + "/v1.safetensors", t, meta);
  }
  const VisionCorpus v1 = load_vision_corpus({dir + "/v1.safetensors"}, 16);
  EXPECT_FALSE(v1.has_yaw());
  EXPECT_TRUE(torch::equal(v1.slot_pos, a.slot_pos));
  test::expect_error(
      [&] {
        load_vision_corpus({dir + "/a.safetensors", dir + "/v1.safetensors"}, 16);
      },
      {"v1.safetensors", "asyncvla-vision-corpus-1"});
  // a file of another suite set has other slots: refused by name
  options.suites = {"object"};
  options.out = dir + "/c.safetensors";
  write_corpus(options);
  test::expect_error(
      [&] {
        load_vision_corpus({dir + "/a.safetensors", dir + "/c.safetensors"}, 16);
      },
      {"c.safetensors", "label slots"});
}

// bridge and fractal have one camera: their corpus holds the main camera alone, a three-drawer
// frame is labelled with its top drawer's opening, and a file mixes no camera counts
TEST(Corpus, OneCameraRigsWriteOneCameraFiles) {
  const std::string dir = test::temp_dir("corpus_one_camera");
  CorpusOptions options;
  options.suites = {"fractal"};
  options.frames = 16;
  options.resolution = 32;
  options.seed = 4;
  options.out = dir + "/fractal.safetensors";
  write_corpus(options);
  const VisionCorpus c = load_vision_corpus({options.out}, 16);
  EXPECT_EQ(c.images.sizes(), torch::IntArrayRef({16, 1, 3, 16, 16}));
  EXPECT_EQ(c.n_cam(), 1);
  EXPECT_TRUE(std::count(c.slots.begin(), c.slots.end(), "red_apple#0") == 1);
  // the cabinet flag is set exactly on the frames of the drawer tasks
  std::map<std::string, std::string> meta;
  const TensorMap raw = load_tensor_map(options.out, &meta);
  const auto names = nlohmann::json::parse(meta.at("tasks")).get<std::vector<std::string>>();
  int drawer_frames = 0;
  for (int64_t i = 0; i < 16; ++i) {
    const std::string task = names.at(raw.at("task")[i].item<int>());
    const bool chest = find_task("fractal", task.substr(task.find('/') + 1)).scene.cabinet ==
                       Cabinet::ThreeDrawers;
    drawer_frames += chest;
    EXPECT_EQ(c.cabinet[i].item<float>(), chest ? 1.0f : 0.0f) << task;
    if (chest) {
      EXPECT_GE(c.drawer[i].item<float>(), 0.0f);
      EXPECT_LE(c.drawer[i].item<float>(), geom::drawer_travel + 1e-6);
    }
  }
  EXPECT_GT(drawer_frames, 0);
  // LIBERO's two cameras and bridge's one do not go in one file
  options.suites = {"spatial", "bridge"};
  options.out = dir + "/mixed.safetensors";
  test::expect_error([&] { write_corpus(options); },
                     {"[corpus]", "'bridge' has 1 camera(s)", "'spatial' has 2"});
  // nor are one- and two-camera files read together (same slots, other camera count)
  TensorMap two_cam = raw;
  two_cam["images"] = torch::cat({raw.at("images"), raw.at("images")}, 1);
  save_tensor_map(dir + "/two.safetensors", two_cam, meta);
  test::expect_error(
      [&] {
        load_vision_corpus({dir + "/fractal.safetensors", dir + "/two.safetensors"}, 16);
      },
      {"two.safetensors", "2 camera(s) per frame", "fractal.safetensors has 1"});
}

TEST(Corpus, BadFilesAreErrorsNamingTheFile) {
  const std::string dir = test::temp_dir("corpus_bad");
  save_tensor_map(dir + "/x.safetensors",
                  {{"images", torch::zeros({1, 2, 8, 8, 3}, torch::kUInt8)}},
                  {{"format", "something-else"}});
  test::expect_error([&] { load_vision_corpus({dir + "/x.safetensors"}, 8); },
                     {"x.safetensors", "format"});
  CorpusOptions options;
  options.frames = 0;
  options.out = dir + "/y.safetensors";
  test::expect_error([&] { write_corpus(options); }, {"frames"});
}

}  // namespace
}  // namespace avla::sim
