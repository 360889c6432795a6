#include "sim/layout.h"

#include <cmath>
#include <optional>

#include "util/error.h"

namespace avla::sim {

namespace {

// a relation must hold by this much (m) to count as unambiguous
constexpr double selector_margin = 0.08;
// footprints keep a 4 cm gap: an open finger reaches 5.6 cm from the grasp centre
constexpr double footprint_gap = 0.04;

// picks the selector's object in a layout; returns "" when the relation does not hold by margin
std::string resolve_selector(const Task& task, const std::vector<Pose>& poses, double margin) {
  const Selector& s = task.selector;
  std::vector<double> score;
  for (const auto& c : s.candidates) {
    const Vec3& p = poses[object_index(task, c)].pos;
    switch (s.relation) {
      case Relation::Left:
        score.push_back(-p[1]);
        break;  // left = +y: smallest score wins
      case Relation::Right:
        score.push_back(p[1]);
        break;
      case Relation::NearRobot:
        score.push_back(p[0]);
        break;
      case Relation::FarRobot:
        score.push_back(-p[0]);
        break;
      case Relation::NearestTo:
        score.push_back(distance_xy(p, poses[object_index(task, s.anchor)].pos));
        break;
      case Relation::FarthestFrom:
        score.push_back(-distance_xy(p, poses[object_index(task, s.anchor)].pos));
        break;
      case Relation::None:
        return "";
    }
  }
  // the winner must beat every other candidate by a clear margin
  size_t best = 0;
  for (size_t i = 1; i < score.size(); ++i) {
    if (score[i] < score[best]) best = i;
  }
  for (size_t i = 0; i < score.size(); ++i) {
    if (i != best && score[i] - score[best] < margin) return "";
  }
  return s.candidates[best];
}

// one draw from the regions; nullopt when two footprints come closer than their gap + gap_extra
// or the selector's relation does not hold by selector_margin + margin_extra
std::optional<Layout> draw_layout(const Task& task, const std::vector<Region>& regions,
                                  std::mt19937_64& rng, double gap_extra, double margin_extra) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto& objects = task.scene.objects;
  Layout layout;
  for (size_t i = 0; i < objects.size(); ++i) {
    const Region& r = regions[i];
    const double x = r.x0 + (r.x1 - r.x0) * unit(rng);
    const double y = r.y0 + (r.y1 - r.y0) * unit(rng);
    // cubes: any face toward the robot; lying objects: across the view, within +-0.5 rad
    double yaw = 0.0;
    if (task.random_yaw && objects[i].kind == ObjectKind::Cube) yaw = 0.8 * (unit(rng) - 0.5);
    if (task.random_yaw && is_elongated(objects[i].kind)) yaw = task.lying_yaw + (unit(rng) - 0.5);
    const Pose pose{{x, y, rest_height(objects[i].kind) + 0.001}, yaw_quat(yaw)};
    for (size_t k = 0; k < i; ++k) {
      const double gap = footprint_radius(objects[i].kind) + footprint_radius(objects[k].kind) +
                         footprint_gap + gap_extra;
      if (distance_xy(pose.pos, layout.object_poses[k].pos) < gap) return std::nullopt;
    }
    layout.object_poses.push_back(pose);
  }
  std::string selected;
  if (task.selector.relation != Relation::None) {
    selected = resolve_selector(task, layout.object_poses, selector_margin + margin_extra);
    if (selected.empty()) return std::nullopt;
  }
  for (Goal g : task.goals) {
    if (g.object == "@") g.object = selected;
    layout.goals.push_back(g);
  }
  return layout;
}

Layout rejection_sample(const Task& task, const std::vector<Region>& regions, std::mt19937_64& rng,
                        double gap_extra, double margin_extra, int attempts, uint64_t seed) {
  AVLA_CHECK(regions.size() == task.scene.objects.size(), "sim",
             "task '{}' has {} regions for {} objects", task.name, regions.size(),
             task.scene.objects.size());
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (auto layout = draw_layout(task, regions, rng, gap_extra, margin_extra)) return *layout;
  }
  fail("sim", "task '{}': no valid layout after {} draws (seed {})", task.name, attempts, seed);
}

}  // namespace

Layout home_layout(const Task& task) {
  AVLA_CHECK(task.home_jitter > 0, "sim", "task '{}' has no home layout (home_jitter 0)",
             task.name);
  // each object moves at most sqrt(2)*j, so a difference of two distances changes by at most
  // 4*sqrt(2)*j: with that margin no jitter changes which object the relation picks. the gaps get
  // sqrt(2)*j of room (the full 2*sqrt(2)*j does not fit five objects on the table); episodes
  // whose jitter closes a gap are redrawn
  const double move = std::sqrt(2.0) * task.home_jitter;
  std::mt19937_64 rng(stable_hash("home/" + task.suite + "/" + task.name));
  return rejection_sample(task, task.regions, rng, move, 4 * move, 100000, 0);
}

Layout sample_layout(const Task& task, uint64_t seed) {
  std::mt19937_64 rng(seed ^ stable_hash(task.suite + "/" + task.name));
  Layout layout;
  if (task.home_jitter <= 0) {
    layout = rejection_sample(task, task.regions, rng, 0, 0, 2000, seed);
  } else {
    // jitter around the home layout
    const double j = task.home_jitter;
    std::vector<Region> around;
    for (const Pose& p : home_layout(task).object_poses) {
      around.push_back({p.pos[0] - j, p.pos[0] + j, p.pos[1] - j, p.pos[1] + j});
    }
    layout = rejection_sample(task, around, rng, 0, 0, 2000, seed);
  }
  // the grip's start, from a stream of its own: the objects' draws stay what they were
  layout.grip_offset = task.arm_start_offset;
  if (task.arm_start_jitter > 0) {
    std::mt19937_64 arm_rng(seed ^ stable_hash("arm/" + task.suite + "/" + task.name));
    std::uniform_real_distribution<double> offset(-task.arm_start_jitter, task.arm_start_jitter);
    for (double& v : layout.grip_offset) v += offset(arm_rng);
  }
  return layout;
}

}  // namespace avla::sim
