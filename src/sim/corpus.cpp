#include "sim/corpus.h"

#include <mujoco/mujoco.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "data/vision_corpus_format.h"
#include "io/safetensors.h"
#include "sim/cabinet.h"
#include "sim/collect.h"
#include "sim/goals.h"
#include "util/error.h"
#include "util/log.h"

namespace avla::sim {

namespace {

std::string class_name(const ObjectSpec& object) {
  return object.colour + "_" + kind_name(object.kind);
}

bool graspable(ObjectKind kind) {
  return kind == ObjectKind::Cube || kind == ObjectKind::Cylinder;
}

double uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

double normal(std::mt19937_64& rng, double std) {
  return std::normal_distribution<double>(0.0, std)(rng);
}

// where the grip site may go: over the table in the arm's reach, down to grasp height
constexpr double grip_x0 = -0.32, grip_x1 = 0.12, grip_y = 0.3, grip_z0 = 0.015, grip_z1 = 0.32;

Pose random_grip_pose(Env& env, const Task& task, std::mt19937_64& rng,
                      const CorpusFrameOptions& options) {
  Pose pose;
  const auto& objects = task.scene.objects;
  if (!objects.empty() && uniform(rng, 0, 1) < options.near_object) {
    // low and near an object: the states around a grasp or a place
    const auto& target = objects[rng() % objects.size()];
    const Vec3 at = env.physics().body_pose(target.name).pos;
    pose.pos = {at[0] + normal(rng, 0.03), at[1] + normal(rng, 0.03), uniform(rng, grip_z0, 0.15)};
  } else {
    pose.pos = {uniform(rng, grip_x0, grip_x1), uniform(rng, -grip_y, grip_y),
                uniform(rng, grip_z0, grip_z1)};
  }
  // gripper down, any yaw, a small tilt about a random horizontal axis
  const Quat down = gripper_down_quat(uniform(rng, -M_PI / 2, M_PI / 2));
  const double tilt_dir = uniform(rng, 0, 2 * M_PI);
  const double axis[3] = {std::cos(tilt_dir), std::sin(tilt_dir), 0.0};
  Quat tilt;
  mju_axisAngle2Quat(tilt.data(), axis, std::abs(normal(rng, 0.15)));
  mju_mulQuat(pose.quat.data(), tilt.data(), down.data());
  return pose;
}

double random_finger(std::mt19937_64& rng) {
  const double u = uniform(rng, 0, 1);
  if (u < 0.5) return finger_open;
  if (u < 0.75) return 0.0;
  return uniform(rng, 0, finger_open);
}

// drops a graspable object from a few cm above a receptacle or another object
void drop_object_somewhere(Env& env, const Task& task, std::mt19937_64& rng) {
  const auto& objects = task.scene.objects;
  std::vector<size_t> movable;
  for (size_t i = 0; i < objects.size(); ++i) {
    if (graspable(objects[i].kind)) movable.push_back(i);
  }
  if (movable.empty() || objects.size() < 2) return;
  const size_t moved = movable[rng() % movable.size()];
  size_t target = rng() % (objects.size() - 1);
  if (target >= moved) ++target;
  Physics& physics = env.physics();
  const Vec3 at = physics.body_pose(objects[target].name).pos;
  const double lift = objects[target].kind == ObjectKind::Plate ? 0.04 : 0.08;
  physics.set_free_pose(objects[moved].name,
                        {{at[0] + normal(rng, 0.01), at[1] + normal(rng, 0.01), at[2] + lift},
                         yaw_quat(uniform(rng, -0.4, 0.4))});
  physics.forward();
}

}  // namespace

std::vector<int> CorpusSlots::assign(const Task& task, const std::vector<Vec3>& positions) const {
  const auto& objects = task.scene.objects;
  AVLA_CHECK(positions.size() == objects.size(), "corpus", "task '{}' has {} objects, {} positions",
             task.name, objects.size(), positions.size());
  // instances of a class in order of y, then x
  std::vector<size_t> order(objects.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (positions[a][1] != positions[b][1]) return positions[a][1] < positions[b][1];
    return positions[a][0] < positions[b][0];
  });
  std::map<std::string, int> seen;
  std::vector<int> slot(objects.size(), -1);
  for (size_t i : order) {
    const std::string name = class_name(objects[i]);
    const std::string slot_name = fmt::format("{}#{}", name, seen[name]++);
    const auto it = std::find(names.begin(), names.end(), slot_name);
    AVLA_CHECK(it != names.end(), "corpus", "task '{}': object '{}' has no label slot '{}'",
               task.name, objects[i].name, slot_name);
    slot[i] = static_cast<int>(it - names.begin());
  }
  return slot;
}

CorpusSlots corpus_slots(const std::vector<const Task*>& tasks) {
  std::map<std::string, int> most;  // class -> most instances in one scene
  std::map<std::string, int> order;
  for (const Task* task : tasks) {
    std::map<std::string, int> count;
    for (const auto& o : task->scene.objects) {
      ++count[class_name(o)];
      order[class_name(o)] = yaw_order(o.kind);
    }
    for (const auto& [name, n] : count) most[name] = std::max(most[name], n);
  }
  CorpusSlots slots;
  for (const auto& [name, n] : most) {
    for (int k = 0; k < n; ++k) {
      slots.names.push_back(fmt::format("{}#{}", name, k));
      slots.yaw_order.push_back(order.at(name));
    }
  }
  return slots;
}

CorpusLabels corpus_labels(Env& env, const CorpusSlots& slots) {
  const Task& task = env.task();
  Physics& physics = env.physics();
  std::vector<Pose> poses;
  std::vector<Vec3> positions;
  for (const auto& o : task.scene.objects) {
    poses.push_back(physics.body_pose(o.name));
    positions.push_back(poses.back().pos);
  }
  CorpusLabels labels;
  labels.slot_present.assign(slots.size(), 0);
  labels.slot_pos.assign(3 * static_cast<size_t>(slots.size()), 0.0f);
  labels.slot_yaw.assign(2 * static_cast<size_t>(slots.size()), 0.0f);
  const std::vector<int> slot = slots.assign(task, positions);
  for (size_t i = 0; i < positions.size(); ++i) {
    labels.slot_present[slot[i]] = 1;
    for (int k = 0; k < 3; ++k)
      labels.slot_pos[3 * slot[i] + k] = static_cast<float>(positions[i][k]);
    const auto yaw = yaw_features(poses[i].quat, task.scene.objects[i].kind);
    for (int k = 0; k < 2; ++k) labels.slot_yaw[2 * slot[i] + k] = static_cast<float>(yaw[k]);
  }
  // the opening of the cabinet's first drawer (its only one, or the top one)
  const auto& drawers = drawer_names(task.scene.cabinet);
  if (!drawers.empty()) {
    labels.cabinet = 1.0f;
    labels.drawer = static_cast<float>(physics.joint_qpos(drawer_joint(drawers.front())));
  }
  const Pose grip = env.controller().grip_pose();
  const double sign = grip.quat[0] < 0 ? -1.0 : 1.0;
  for (int k = 0; k < 3; ++k) labels.ee_pos[k] = static_cast<float>(grip.pos[k]);
  for (int k = 0; k < 4; ++k) labels.ee_quat[k] = static_cast<float>(sign * grip.quat[k]);
  const auto fingers = env.controller().finger_qpos();
  labels.gripper = {static_cast<float>(fingers[0]), static_cast<float>(fingers[1])};
  return labels;
}

CorpusFrame sample_corpus_frame(Env& env, const Task& task, uint64_t layout_seed,
                                const CorpusSlots& slots, std::mt19937_64& rng,
                                const CorpusFrameOptions& options) {
  env.reset(task, layout_seed);
  Physics& physics = env.physics();
  const auto& drawers = drawer_names(task.scene.cabinet);
  for (const std::string& d : drawers) {
    physics.set_joint_qpos(drawer_joint(d), uniform(rng, 0.0, geom::drawer_travel));
  }
  if (!drawers.empty()) physics.forward();
  if (uniform(rng, 0, 1) < options.place_on_receptacle) drop_object_somewhere(env, task, rng);
  // the arm: a random pose that touches nothing, else home
  ArmController& arm = env.controller();
  const double finger = random_finger(rng);
  bool placed = false;
  for (int t = 0; t < options.max_arm_tries && !placed; ++t) {
    arm.reset_to(random_grip_pose(env, task, rng, options), finger);
    placed = !physics.touches_outside("base");
  }
  if (!placed) arm.reset_to_home(home_grip_pos);
  const Action hold = {0, 0, 0, 0, 0, 0, placed ? 1.0 - 2.0 * finger / finger_open : -1.0};
  for (int i = 0; i < options.settle_steps; ++i) {
    arm.apply(hold);
    arm.step();
  }
  CorpusFrame frame;
  frame.observation = env.observe();
  frame.labels = corpus_labels(env, slots);
  return frame;
}

double write_corpus(const CorpusOptions& options) {
  AVLA_CHECK(options.frames > 0 && options.frames < (int64_t{1} << 24), "corpus",
             "--frames {} outside [1, 2^24)", options.frames);
  AVLA_CHECK(options.seed < (uint64_t{1} << 16), "corpus",
             "--seed {} must be below 65536 (layout seeds stay below the evaluation seeds)",
             options.seed);
  AVLA_CHECK(!options.out.empty(), "corpus", "--out is required");
  std::vector<const Task*> tasks;
  const std::vector<std::string> suites =
      options.suites.empty() ? libero_suite_names() : options.suites;
  // one file holds one camera count: both cameras of the LIBERO suites, or the main camera of
  // bridge and fractal
  for (const auto& suite : suites) {
    for (const Task& t : suite_tasks(suite)) {
      if (!tasks.empty()) {
        const Task& first = *tasks.front();
        AVLA_CHECK(t.scene.n_camera() == first.scene.n_camera(), "corpus",
                   "suite '{}' has {} camera(s) but '{}' has {}: a corpus holds one camera count "
                   "(write one file per camera rig)",
                   suite, t.scene.n_camera(), first.suite, first.scene.n_camera());
      }
      tasks.push_back(&t);
    }
  }
  const CorpusSlots slots = corpus_slots(tasks);
  EnvConfig config;
  config.image_size = options.resolution;
  Env env(config);

  const int64_t n = options.frames, s = options.resolution, n_slot = slots.size();
  const int64_t n_cam = tasks.front()->scene.n_camera();
  const size_t image_bytes = static_cast<size_t>(s) * s * 3;
  std::vector<uint8_t> images(static_cast<size_t>(n * n_cam) * image_bytes);
  std::vector<uint8_t> present(static_cast<size_t>(n * n_slot));
  std::vector<float> slot_pos(static_cast<size_t>(n * n_slot * 3)),
      slot_yaw(static_cast<size_t>(n * n_slot * 2)), drawer(n * 2), ee_pos(n * 3), ee_quat(n * 4),
      gripper(n * 2);
  std::vector<int32_t> task_index(n);
  log_info(
      "[sim corpus] {} frames of {} tasks ({}), {} camera(s) at {}x{} px, {} label slots -> {}", n,
      tasks.size(), fmt::join(suites, ", "), n_cam, s, s, n_slot, options.out);
  ProgressBar bar("corpus", n);
  Timer timer;
  for (int64_t i = 0; i < n; ++i) {
    std::mt19937_64 rng(stable_hash(fmt::format("corpus/{}/{}", options.seed, i)));
    const size_t t = rng() % tasks.size();
    const uint64_t layout_seed = (options.seed << 24) + static_cast<uint64_t>(i);
    const CorpusFrame f =
        sample_corpus_frame(env, *tasks[t], layout_seed, slots, rng, options.frame);
    const CorpusLabels& l = f.labels;
    std::copy(f.observation.agentview_rgb.begin(), f.observation.agentview_rgb.end(),
              images.begin() + static_cast<std::ptrdiff_t>((n_cam * i) * image_bytes));
    if (n_cam == 2) {
      std::copy(f.observation.eye_in_hand_rgb.begin(), f.observation.eye_in_hand_rgb.end(),
                images.begin() + static_cast<std::ptrdiff_t>((2 * i + 1) * image_bytes));
    }
    std::copy(l.slot_present.begin(), l.slot_present.end(), present.begin() + i * n_slot);
    std::copy(l.slot_pos.begin(), l.slot_pos.end(), slot_pos.begin() + i * n_slot * 3);
    std::copy(l.slot_yaw.begin(), l.slot_yaw.end(), slot_yaw.begin() + i * n_slot * 2);
    drawer[2 * i] = l.cabinet;
    drawer[2 * i + 1] = l.drawer;
    std::copy(l.ee_pos.begin(), l.ee_pos.end(), ee_pos.begin() + i * 3);
    std::copy(l.ee_quat.begin(), l.ee_quat.end(), ee_quat.begin() + i * 4);
    std::copy(l.gripper.begin(), l.gripper.end(), gripper.begin() + i * 2);
    task_index[i] = static_cast<int32_t>(t);
    bar.update(i + 1);
    if ((i + 1) % 2000 == 0 || i + 1 == n) {
      log_info("[sim corpus] {}/{} frames | {:.0f} frames/s", i + 1, n,
               (i + 1) * 1000.0 / timer.elapsed_ms());
    }
  }
  bar.finish();
  const double fps = n * 1000.0 / timer.elapsed_ms();

  std::vector<std::string> task_names;
  for (const Task* t : tasks) task_names.push_back(t->suite + "/" + t->name);
  const std::map<std::string, std::string> metadata = {
      {"format", vision_corpus_format},
      {"slots", nlohmann::json(slots.names).dump()},
      {"slot_yaw_order", nlohmann::json(slots.yaw_order).dump()},
      {"tasks", nlohmann::json(task_names).dump()},
      {"resolution", std::to_string(s)},
      {"seed", std::to_string(options.seed)},
      {"frames_per_s", fmt::format("{:.1f}", fps)}};
  auto buffer = [](const std::string& name, DType dtype, std::vector<int64_t> shape,
                   const void* data, size_t nbytes) {
    return TensorBuffer{name, dtype, std::move(shape), data, nbytes};
  };
  save_safetensors(
      options.out,
      {buffer("images", DType::U8, {n, n_cam, s, s, 3}, images.data(), images.size()),
       buffer("slot_present", DType::U8, {n, n_slot}, present.data(), present.size()),
       buffer("slot_pos", DType::F32, {n, n_slot, 3}, slot_pos.data(), slot_pos.size() * 4),
       buffer("slot_yaw", DType::F32, {n, n_slot, 2}, slot_yaw.data(), slot_yaw.size() * 4),
       buffer("drawer", DType::F32, {n, 2}, drawer.data(), drawer.size() * 4),
       buffer("ee_pos", DType::F32, {n, 3}, ee_pos.data(), ee_pos.size() * 4),
       buffer("ee_quat", DType::F32, {n, 4}, ee_quat.data(), ee_quat.size() * 4),
       buffer("gripper", DType::F32, {n, 2}, gripper.data(), gripper.size() * 4),
       buffer("task", DType::I32, {n}, task_index.data(), task_index.size() * 4)},
      metadata);
  log_info("[sim corpus] wrote {} frames in {:.1f} s ({:.0f} frames/s) -> {}", n,
           timer.elapsed_ms() / 1000.0, fps, options.out);
  return fps;
}

}  // namespace avla::sim
