#include "data/synthetic.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "data/libero_file.h"
#include "util/error.h"

namespace avla {

namespace {

struct Colour {
  const char* name;
  uint8_t r, g, b;
};
constexpr Colour kColours[] = {
    {"red", 220, 40, 40}, {"green", 40, 200, 60}, {"blue", 50, 80, 230}, {"yellow", 230, 210, 40}};
constexpr int kMaxTasks = 4;
constexpr double kStep = 0.04;  // table units per unit action

struct Block {
  double x, y;
  int colour;
};

// draws the table seen from above centred at (cx, cy) with a view width of span table units
void draw(torch::Tensor& img, const std::vector<Block>& blocks, double ex, double ey, double ez,
          double cx, double cy, double span) {
  auto a = img.accessor<uint8_t, 3>();
  const int n = static_cast<int>(img.size(0));
  auto to_px = [&](double v, double c) { return (v - c) / span * n + n / 2.0; };
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      a[i][j][0] = 120, a[i][j][1] = 110, a[i][j][2] = 100;
    }
  auto square = [&](double x, double y, double half, uint8_t r, uint8_t g, uint8_t b) {
    const double px = to_px(x, cx), py = to_px(y, cy), h = half / span * n;
    for (int i = std::max(0, int(py - h)); i < std::min(n, int(std::ceil(py + h))); ++i)
      for (int j = std::max(0, int(px - h)); j < std::min(n, int(std::ceil(px + h))); ++j) {
        a[i][j][0] = r, a[i][j][1] = g, a[i][j][2] = b;
      }
  };
  for (const auto& bl : blocks) {
    const Colour& c = kColours[bl.colour];
    square(bl.x, bl.y, 0.05, c.r, c.g, c.b);
  }
  // the gripper: white, larger when higher
  square(ex, ey, 0.02 + 0.05 * ez, 245, 245, 245);
}

LiberoDemo run_expert(int task, int resolution, std::mt19937_64& rng, double noise_std) {
  std::uniform_real_distribution<double> uni(0.15, 0.85);
  std::normal_distribution<double> noise(0.0, noise_std);
  // the target block and one distractor of another colour, apart from each other
  std::vector<Block> blocks;
  blocks.push_back({uni(rng), uni(rng), task});
  while (true) {
    Block d{uni(rng), uni(rng), static_cast<int>((task + 1 + rng() % (kMaxTasks - 1)) % kMaxTasks)};
    if (std::hypot(d.x - blocks[0].x, d.y - blocks[0].y) > 0.25) {
      blocks.push_back(d);
      break;
    }
  }
  double ex = uni(rng), ey = uni(rng), ez = 0.3, grip = 0.04;
  std::vector<std::array<double, 7>> actions;
  std::vector<std::array<double, 6>> ee;
  std::vector<std::array<double, 2>> gripper;
  std::vector<torch::Tensor> agent, wrist;
  int hold = 0;
  for (int t = 0; t < 80 && hold < 4; ++t) {
    // observe
    torch::Tensor a_img = torch::empty({resolution, resolution, 3}, torch::kUInt8);
    torch::Tensor w_img = torch::empty({resolution, resolution, 3}, torch::kUInt8);
    draw(a_img, blocks, ex, ey, ez, 0.5, 0.5, 1.0);
    draw(w_img, blocks, ex, ey, ez, ex, ey, 0.4);
    agent.push_back(a_img);
    wrist.push_back(w_img);
    ee.push_back({ex, ey, ez, 0.0, 0.0, 0.0});
    gripper.push_back({grip, -grip});
    // act: approach, descend when above, close and hold
    const double tx = blocks[0].x - ex, ty = blocks[0].y - ey;
    const double dist = std::hypot(tx, ty);
    std::array<double, 7> act{};
    if (dist < 0.02 && ez < 0.01) {
      act[6] = 1.0;
      ++hold;
    } else {
      act[0] = std::clamp(tx / (2 * kStep) + noise(rng), -1.0, 1.0);
      act[1] = std::clamp(ty / (2 * kStep) + noise(rng), -1.0, 1.0);
      act[2] = dist < 0.1 ? std::clamp(-ez / kStep, -1.0, 0.0) : 0.0;
      act[6] = -1.0;
    }
    actions.push_back(act);
    // step
    ex += kStep * act[0];
    ey += kStep * act[1];
    ez = std::max(0.0, ez + kStep * act[2]);
    grip = act[6] > 0 ? std::max(0.0, grip - 0.02) : 0.04;
  }
  const int64_t T = static_cast<int64_t>(actions.size());
  auto table = [&](const auto& rows, int64_t width) {
    torch::Tensor t = torch::empty({T, width}, torch::kFloat64);
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < width; ++j) t[i][j] = rows[i][j];
    return t;
  };
  LiberoDemo demo;
  demo.actions = table(actions, 7);
  demo.ee_states = table(ee, 6);
  demo.gripper_states = table(gripper, 2);
  demo.ee_pos = demo.ee_states.narrow(1, 0, 3).contiguous();
  demo.ee_ori = demo.ee_states.narrow(1, 3, 3).contiguous();
  demo.joint_states = torch::zeros({T, 7}, torch::kFloat64);
  demo.agentview_rgb = torch::stack(agent);
  demo.eye_in_hand_rgb = torch::stack(wrist);
  demo.states = torch::cat({demo.ee_states, demo.gripper_states}, 1);
  demo.robot_states = demo.states.clone();
  demo.rewards = torch::zeros({T}, torch::kFloat64);
  demo.rewards[T - 1] = 1.0;
  demo.dones = torch::zeros({T}, torch::kUInt8);
  demo.dones[T - 1] = 1;
  demo.init_state = demo.states[0].clone();
  return demo;
}

}  // namespace

std::vector<std::string> write_synthetic_dataset(const std::string& out_dir,
                                                 const SyntheticOptions& options) {
  AVLA_CHECK(options.n_tasks >= 1 && options.n_tasks <= kMaxTasks, "synthetic",
             "n_tasks is {}, expected 1..{}", options.n_tasks, kMaxTasks);
  AVLA_CHECK(options.episodes >= 1, "synthetic", "episodes is {}, expected >= 1", options.episodes);
  AVLA_CHECK(options.resolution >= 16, "synthetic", "resolution is {}, expected >= 16",
             options.resolution);
  std::filesystem::create_directories(out_dir);
  std::vector<std::string> paths;
  for (int task = 0; task < options.n_tasks; ++task) {
    std::mt19937_64 rng(options.seed * 1000003ull + static_cast<uint64_t>(task));
    std::vector<LiberoDemo> demos;
    for (int e = 0; e < options.episodes; ++e) {
      demos.push_back(run_expert(task, options.resolution, rng, options.action_noise));
    }
    const std::string instruction = std::string("pick up the ") + kColours[task].name + " block";
    nlohmann::json problem = {{"problem_name", "synthetic_reach"},
                              {"domain_name", "synthetic"},
                              {"language_instruction", instruction}};
    nlohmann::json env = {
        {"env_name", "synthetic_reach"},
        {"type", 1},
        {"env_kwargs",
         {{"camera_heights", options.resolution}, {"camera_widths", options.resolution}}}};
    std::string path = out_dir + "/synthetic_task" + std::to_string(task) + ".hdf5";
    write_libero_file(path, problem.dump(), env.dump(), demos);
    paths.push_back(path);
  }
  return paths;
}

}  // namespace avla
