#include "sim/collect.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "data/libero_file.h"
#include "io/atomic_file.h"
#include "util/error.h"
#include "util/log.h"

namespace avla::sim {

bool is_noop(const Action& action, const Action* previous) {
  double n = 0;
  for (int i = 0; i < 6; ++i) n += action[i] * action[i];
  const bool same_gripper = previous == nullptr || (*previous)[6] == action[6];
  return std::sqrt(n) < 1e-4 && same_gripper;
}

ExpertEpisode run_expert(Env& env, const Task& task, uint64_t seed, bool record,
                         const DemoVariation& variation,
                         const std::function<void(const StepResult&)>& on_step) {
  ExpertEpisode episode;
  SimObservation obs = env.reset(task, seed);
  ExpertConfig expert_config;
  expert_config.scale = env.config().controller;
  expert_config.regrasp = variation.regrasp;
  Expert expert(task, env.layout(), seed, expert_config);
  std::mt19937_64 displace_rng(seed ^ 0x9E3779B97F4A7C15ULL);
  const double action_noise = variation.action_noise;
  Action previous{};
  bool has_previous = false;
  std::mt19937_64 noise_rng(seed ^ 0x5DEECE66DULL);
  std::normal_distribution<double> normal(0.0, 1.0);
  while (true) {
    const Action action = expert.act(env.physics());
    // a failed grasp the expert asked for: the object leaves the closing fingers
    const std::string lost = expert.take_grasp_failure();
    if (!lost.empty()) displace_object(env.physics(), task, lost, displace_rng);
    const bool noop = is_noop(action, has_previous ? &previous : nullptr);
    if (record && !noop) {
      episode.observations.push_back(std::move(obs));
      episode.actions.push_back(action);
    }
    previous = action;
    has_previous = true;
    // executed: the expert's action, with translation noise for dart-style data
    std::vector<double> executed(action.begin(), action.end());
    if (action_noise > 0) {
      for (int i = 0; i < 3; ++i) {
        executed[i] = std::clamp(executed[i] + action_noise * normal(noise_rng), -1.0, 1.0);
      }
    }
    StepResult r = env.step(executed);
    ++episode.steps;
    if (on_step) on_step(r);
    obs = std::move(r.observation);
    if (r.success) {
      episode.success = true;
      break;
    }
    if (r.done) break;
  }
  episode.regrasps = expert.regrasps();
  return episode;
}

namespace {

constexpr double regrasp_max_tilt_action = 0.02;

torch::Tensor stack_vectors(const std::vector<std::vector<double>>& rows) {
  const int64_t n = static_cast<int64_t>(rows.size()), d = static_cast<int64_t>(rows[0].size());
  auto t = torch::empty({n, d}, torch::kFloat64);
  auto* p = t.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) std::copy(rows[i].begin(), rows[i].end(), p + i * d);
  return t;
}

double max_tilt_action(const ExpertEpisode& e) {
  double tilt = 0.0;
  for (const Action& a : e.actions) tilt = std::max({tilt, std::abs(a[3]), std::abs(a[4])});
  return tilt;
}

LiberoDemo to_demo(const ExpertEpisode& e) {
  const int64_t T = static_cast<int64_t>(e.actions.size());
  const int64_t S = e.observations[0].image_size;
  LiberoDemo d;
  std::vector<std::vector<double>> actions, joints, gripper, ee_states, ee_pos, ee_ori, states,
      robot_states, object_states;
  d.agentview_rgb = torch::empty({T, S, S, 3}, torch::kUInt8);
  const bool wrist = !e.observations[0].eye_in_hand_rgb.empty();
  if (wrist) d.eye_in_hand_rgb = torch::empty({T, S, S, 3}, torch::kUInt8);
  for (int64_t t = 0; t < T; ++t) {
    const SimObservation& o = e.observations[t];
    std::memcpy(d.agentview_rgb[t].data_ptr<uint8_t>(), o.agentview_rgb.data(), S * S * 3);
    if (wrist) {
      std::memcpy(d.eye_in_hand_rgb[t].data_ptr<uint8_t>(), o.eye_in_hand_rgb.data(), S * S * 3);
    }
    actions.emplace_back(e.actions[t].begin(), e.actions[t].end());
    joints.emplace_back(o.joint_states.begin(), o.joint_states.end());
    gripper.emplace_back(o.gripper_states.begin(), o.gripper_states.end());
    ee_pos.emplace_back(o.ee_pos.begin(), o.ee_pos.end());
    ee_ori.emplace_back(o.ee_ori.begin(), o.ee_ori.end());
    ee_states.push_back(
        {o.ee_pos[0], o.ee_pos[1], o.ee_pos[2], o.ee_ori[0], o.ee_ori[1], o.ee_ori[2]});
    states.push_back(o.state);
    object_states.push_back(o.object_states);
    // LIBERO's robot_states: gripper (2) | ee position (3) | ee quaternion (4)
    robot_states.push_back({o.gripper_states[0], o.gripper_states[1], o.ee_pos[0], o.ee_pos[1],
                            o.ee_pos[2], o.ee_quat[0], o.ee_quat[1], o.ee_quat[2], o.ee_quat[3]});
  }
  d.actions = stack_vectors(actions);
  d.joint_states = stack_vectors(joints);
  d.gripper_states = stack_vectors(gripper);
  d.ee_states = stack_vectors(ee_states);
  d.ee_pos = stack_vectors(ee_pos);
  d.ee_ori = stack_vectors(ee_ori);
  d.states = stack_vectors(states);
  d.robot_states = stack_vectors(robot_states);
  d.object_states = stack_vectors(object_states);
  d.rewards = torch::zeros({T}, torch::kUInt8);
  d.rewards[T - 1] = 1;
  d.dones = torch::zeros({T}, torch::kUInt8);
  d.dones[T - 1] = 1;
  d.init_state = d.states[0].clone();
  return d;
}

}  // namespace

std::vector<std::string> collect_demonstrations(const CollectOptions& options) {
  AVLA_CHECK(options.episodes >= 1, "collect", "--episodes must be >= 1, got {}", options.episodes);
  AVLA_CHECK(options.action_noise >= 0 && options.action_noise <= 1, "collect",
             "--action-noise {} must be in [0, 1]", options.action_noise);
  AVLA_CHECK(options.regrasp >= 0 && options.regrasp <= 1, "collect",
             "--regrasp {} must be in [0, 1]", options.regrasp);
  AVLA_CHECK(!options.out_dir.empty(), "collect", "--out is required");
  AVLA_CHECK(options.seed < eval_seed_offset / 2, "collect",
             "--seed {} is in the range reserved for evaluation seeds (>= 2^39)", options.seed);
  const std::vector<const Task*> tasks = select_tasks(options.suite, options.tasks);
  std::filesystem::create_directories(options.out_dir);
  // a file of a killed collect never has its final name (write_atomic_with); its temp goes here
  if (const int stale = remove_stale_temps(options.out_dir); stale > 0)
    log_info("[collect] removed {} unfinished temporary file(s) of an interrupted collect in {}",
             stale, options.out_dir);
  EnvConfig config;
  config.image_size = options.resolution;
  Env env(config);
  std::vector<std::string> paths;
  ProgressBar bar("collect " + options.suite,
                  static_cast<int64_t>(tasks.size()) * options.episodes);
  int64_t done = 0;
  Timer timer;
  for (const Task* task : tasks) {
    std::vector<LiberoDemo> demos;
    int attempts = 0, failures = 0, regrasps = 0, tilted = 0;
    const int max_attempts = 2 * options.episodes + 20;
    while (static_cast<int>(demos.size()) < options.episodes) {
      AVLA_CHECK(attempts < max_attempts, "collect",
                 "task '{}': only {} of {} expert episodes succeeded after {} attempts", task->name,
                 demos.size(), options.episodes, attempts);
      const uint64_t seed = options.seed + static_cast<uint64_t>(attempts++);
      ExpertEpisode e = run_expert(env, *task, seed, true, {options.action_noise, options.regrasp});
      if (!e.success) {
        ++failures;
        continue;
      }
      // a recovery that tilted the wrist (the arm swinging low after a regrasp) labels roll and
      // pitch corrections far outside the clean demonstrations' range (|a| <= 0.015), which
      // the quantile normalizer would blow up: such an episode is redrawn
      if (options.regrasp > 0 && max_tilt_action(e) > regrasp_max_tilt_action) {
        ++tilted;
        continue;
      }
      regrasps += e.regrasps;
      demos.push_back(to_demo(e));
      bar.update(++done, task->name);
    }
    const nlohmann::json problem_info = {{"problem_name", task->suite + "_" + task->name},
                                         {"language_instruction", task->instruction}};
    const nlohmann::json env_args = {
        {"env_name", "asyncvla_tabletop"},
        {"type", 1},
        {"env_kwargs",
         {{"suite", task->suite},
          {"task", task->name},
          {"camera_names", task->scene.wrist_camera()
                               ? std::vector<std::string>{"agentview", "eye_in_hand"}
                               : std::vector<std::string>{"agentview"}},
          {"camera_heights", options.resolution},
          {"camera_widths", options.resolution},
          {"control_freq", 20},
          {"max_steps", task->max_steps},
          {"first_seed", options.seed},
          {"action_noise", options.action_noise},
          {"regrasp", options.regrasp}}}};
    const std::string path =
        (std::filesystem::path(options.out_dir) / (task->name + "_demo.hdf5")).string();
    write_libero_file(path, problem_info.dump(), env_args.dump(), demos);
    int64_t frames = 0;
    for (const auto& d : demos) frames += d.length();
    log_info(
        "[collect] {}/{}: {} demos ({} frames, {} regrasps, {} expert failures, {} tilted) -> {} "
        "({:.0f} s so far)",
        task->suite, task->name, demos.size(), frames, regrasps, failures, tilted, path,
        timer.elapsed_ms() / 1000.0);
    paths.push_back(path);
  }
  bar.finish();
  return paths;
}

}  // namespace avla::sim
