#include "sim/variants.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "sim/cabinet.h"
#include "util/error.h"

namespace avla::sim {

namespace {

// what distractors are drawn from, in order: the first classes the task's scene does not hold
const std::vector<std::pair<ObjectKind, std::string>>& distractor_pool() {
  static const std::vector<std::pair<ObjectKind, std::string>> pool = {
      {ObjectKind::Cylinder, "pink"}, {ObjectKind::Cube, "cyan"},
      {ObjectKind::Carrot, "orange"}, {ObjectKind::Cube, "purple"},
      {ObjectKind::Cylinder, "grey"}, {ObjectKind::Cube, "white"},
  };
  return pool;
}

std::vector<ObjectSpec> distractor_objects(const Task& task, int n) {
  std::vector<ObjectSpec> out;
  for (const auto& [kind, colour] : distractor_pool()) {
    if (static_cast<int>(out.size()) == n) break;
    bool taken = false;
    for (const ObjectSpec& o : task.scene.objects)
      taken = taken || (o.kind == kind && o.colour == colour);
    if (!taken) out.push_back({fmt::format("distractor_{}", out.size()), kind, colour});
  }
  AVLA_CHECK(static_cast<int>(out.size()) == n, "variants",
             "task '{}': {} distractors asked, {} classes free", task.name, n, out.size());
  return out;
}

VisualVariant variant(const std::string& name, const std::string& what, SceneLook look,
                      int distractors = 0) {
  return {name, what, std::move(look), distractors};
}

SceneLook light(double scale) {
  SceneLook l;
  l.light = scale;
  return l;
}

SceneLook table(const std::string& colour) {
  SceneLook l;
  l.table = colour;
  return l;
}

SceneLook floor_colour(const std::string& colour) {
  SceneLook l;
  l.floor = colour;
  return l;
}

SceneLook camera(double dx, double dy, double dz) {
  SceneLook l;
  l.camera_shift = {dx, dy, dz};
  return l;
}

}  // namespace

const std::vector<VisualVariant>& visual_variants() {
  static const std::vector<VisualVariant> variants = {
      variant("light_dim", "lights at 55 %", light(0.55)),
      variant("light_bright", "lights at 150 %", light(1.5)),
      variant("table_grey", "a grey table top", table("grey")),
      variant("table_white", "a white table top", table("white")),
      variant("background_blue", "a blue floor behind the table", floor_colour("blue")),
      variant("camera_left", "main camera 6 cm to the robot's left", camera(0, 0.06, 0)),
      variant("camera_high", "main camera 6 cm higher", camera(0, 0, 0.06)),
      variant("distractors", "two objects of other classes on the table", SceneLook{}, 2),
  };
  return variants;
}

const VisualVariant& find_variant(const std::string& name) {
  static const VisualVariant matching{"none", "visual matching: the default look", SceneLook{}, 0};
  if (name.empty() || name == "none") return matching;
  std::string names;
  for (const VisualVariant& v : visual_variants()) {
    if (v.name == name) return v;
    names += (names.empty() ? "" : ", ") + v.name;
  }
  fail("variants", "unknown visual variant '{}' (expected none or one of: {})", name, names);
}

SceneSpec variant_scene(const Task& task, const VisualVariant& variant) {
  SceneSpec spec = task.scene;
  spec.look = variant.look;
  for (const ObjectSpec& o : distractor_objects(task, variant.distractors))
    spec.objects.push_back(o);
  return spec;
}

void place_distractors(Physics& physics, const Task& task, const VisualVariant& variant,
                       uint64_t seed) {
  if (variant.distractors == 0) return;
  physics.forward();  // the task objects' poses as the layout set them
  // on the part of the table both main cameras see, reachable or not (a distractor is only seen),
  // with 3 cm between footprints (the layout keeps 4 cm between the task's own objects)
  constexpr double gap = 0.03;
  constexpr double x0 = -0.3, x1 = 0.1, y0 = -0.3, y1 = 0.3;
  std::mt19937_64 rng(seed ^ stable_hash("distractors/" + task.suite + "/" + task.name));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<std::pair<Vec3, double>> taken;  // centre, footprint radius
  for (const ObjectSpec& o : task.scene.objects) {
    taken.push_back({physics.body_pose(o.name).pos, footprint_radius(o.kind)});
  }
  for (const ObjectSpec& d : distractor_objects(task, variant.distractors)) {
    bool placed = false;
    for (int draw = 0; draw < 200 && !placed; ++draw) {
      const Vec3 at{x0 + (x1 - x0) * unit(rng), y0 + (y1 - y0) * unit(rng),
                    rest_height(d.kind) + 0.001};
      const double yaw = (unit(rng) - 0.5) * M_PI;
      bool clear = true;
      for (const auto& [centre, radius] : taken) {
        clear = clear && distance_xy(at, centre) >= radius + footprint_radius(d.kind) + gap;
      }
      clear = clear && !in_cabinet_footprint(task.scene, at, footprint_radius(d.kind) + gap);
      if (!clear) continue;
      physics.set_free_pose(d.name, {at, yaw_quat(yaw)});
      taken.push_back({at, footprint_radius(d.kind)});
      placed = true;
    }
    AVLA_CHECK(placed, "variants", "task '{}': no free spot for {} in 200 draws (seed {})",
               task.name, d.name, seed);
  }
  physics.forward();
}

}  // namespace avla::sim
