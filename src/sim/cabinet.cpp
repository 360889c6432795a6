// MJCF and geometry of the cabinets: LIBERO's with one drawer and the Google robot's with three.
#include "sim/cabinet.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace avla::sim {

namespace {

// a drawer's floor plate centre above its origin, and the one drawer's walls (half height, centre)
constexpr double floor_plate_z = 0.012;
constexpr double one_drawer_wall_half = 0.03, one_drawer_wall_z = 0.035;

// a furniture box (collides with the arm and the objects, not with other furniture: contype 2)
std::string box(const std::string& rgba, double sx, double sy, double sz, double px, double py,
                double pz, const char* mass = "") {
  return fmt::format(
      "<geom class=\"furniture\" type=\"box\" size=\"{} {} {}\" pos=\"{} {} {}\" "
      "rgba=\"{}\"{}/>\n",
      sx, sy, sz, px, py, pz, rgba, mass);
}

// a cabinet's fixed top, sides and back: depth d, half width hw, height h, back at x = 0
std::string carcass_xml(double d, double hw, double h, const std::string& rgba) {
  const double w = geom::wall;
  std::string x = box(rgba, d / 2, hw, w, -d / 2, 0, h - w);
  for (double sy : {-1.0, 1.0}) x += box(rgba, d / 2, w, h / 2, -d / 2, sy * (hw - w), h / 2);
  return x + box(rgba, w, hw, h / 2, -w, 0, h / 2);
}

// a drawer's slide joint and its box (front panel up to front_top, floor, side and back walls of
// wall_half half height at wall_z), for a cabinet of depth d and half width hw; inside the body
std::string drawer_box_xml(const std::string& name, double d, double hw, double front_top,
                           double wall_half, double wall_z, const std::string& rgba) {
  const double w = geom::wall, inner_hw = hw - 2 * w - 0.002;
  std::string x = fmt::format(
      "<joint name=\"{}\" type=\"slide\" axis=\"-1 0 0\" range=\"0 {}\" damping=\"4\" "
      "armature=\"0.05\" frictionloss=\"0.05\"/>\n",
      drawer_joint(name), geom::drawer_travel);
  x += box(rgba, w, hw - 0.002, front_top / 2, w, 0, front_top / 2 + 0.001, " mass=\"0.2\"");
  x += box(rgba, (d - 4 * w) / 2, inner_hw, w, d / 2, 0, floor_plate_z, " mass=\"0.1\"");
  for (double sy : {-1.0, 1.0}) {
    x += box(rgba, (d - 4 * w) / 2, w, wall_half, d / 2, sy * inner_hw, wall_z, " mass=\"0.05\"");
  }
  return x + box(rgba, w, inner_hw, wall_half, d - 3 * w, 0, wall_z, " mass=\"0.05\"");
}

// LIBERO's cabinet: a fixed carcass and one drawer on a slide joint with a bar handle on two posts
// above its front panel
std::string one_drawer_xml() {
  using namespace geom;
  const double d = cabinet_depth, hw = cabinet_half_width, h = cabinet_height, w = wall;
  std::string x =
      fmt::format("<body name=\"cabinet\" pos=\"{} {} 0\">\n", cabinet_pos[0], cabinet_pos[1]);
  x += carcass_xml(d, hw, h, ".45 .32 .22 1");
  // the drawer: origin at the closed front face
  const double front_top = h - 2 * w - 0.002;
  x += fmt::format("<body name=\"drawer\" pos=\"{} 0 0\">\n", -d);
  x += drawer_box_xml("drawer", d, hw, front_top, one_drawer_wall_half, one_drawer_wall_z,
                      ".55 .4 .28 1");
  // handle: two posts up from the front panel and a bar along y
  for (double sy : {-1.0, 1.0}) {
    x += box(".2 .2 .2 1", 0.005, 0.005, (handle_height - front_top) / 2, w, sy * 0.05,
             (handle_height + front_top) / 2, " mass=\"0.01\"");
  }
  x += fmt::format(
      "<geom name=\"handle\" class=\"furniture\" type=\"capsule\" size=\"{}\" "
      "fromto=\"{} -0.06 {} {} 0.06 {}\" rgba=\".2 .2 .2 1\" mass=\"0.02\"/>\n",
      handle_radius, w, handle_height, w, handle_height);
  x += "</body>\n</body>\n";
  return x;
}

// the Google robot's cabinet: a fixed carcass on a plinth and three drawers, each on its own slide
// joint with a bar handle on two posts standing out in front of its front panel
std::string chest_xml() {
  using namespace geom;
  const double d = chest_depth, hw = chest_half_width, h = chest_drawer_height;
  const std::string body_rgba = ".78 .76 .72 1";
  std::string x =
      fmt::format("<body name=\"cabinet\" pos=\"{} {} 0\">\n", chest_pos[0], chest_pos[1]);
  x += box(body_rgba, d / 2, hw, chest_plinth / 2, -d / 2, 0, chest_plinth / 2);
  x += carcass_xml(d, hw, chest_height, body_rgba);
  // the drawers, bottom to top: origin at the closed front face, at the drawer's bottom
  const auto& names = drawer_names(Cabinet::ThreeDrawers);  // top to bottom
  for (int level = 0; level < 3; ++level) {
    const std::string& name = names[2 - level];
    x += fmt::format("<body name=\"{}\" pos=\"{} 0 {}\">\n", name, -d, chest_plinth + level * h);
    x += drawer_box_xml(name, d, hw, h - 0.002, (h - 0.024) / 2, h / 2, ".7 .68 .64 1");
    // the handle: two posts out of the front panel and a bar along y
    const double s = chest_handle_standoff, hy = chest_handle_y[2 - level];
    for (double sy : {-1.0, 1.0}) {
      x += box(".2 .2 .2 1", s / 2, 0.004, 0.004, -s / 2, hy + sy * chest_handle_half, h / 2,
               " mass=\"0.01\"");
    }
    x += fmt::format(
        "<geom class=\"furniture\" type=\"capsule\" size=\"{}\" fromto=\"{} {} {} {} {} {}\" "
        "rgba=\".2 .2 .2 1\" mass=\"0.02\"/>\n",
        handle_radius, -s, hy - chest_handle_half, h / 2, -s, hy + chest_handle_half, h / 2);
    x += "</body>\n";
  }
  x += "</body>\n";
  return x;
}

}  // namespace

std::string cabinet_xml(Cabinet cabinet) {
  switch (cabinet) {
    case Cabinet::OneDrawer:
      return one_drawer_xml();
    case Cabinet::ThreeDrawers:
      return chest_xml();
    case Cabinet::None:
      break;
  }
  return "";
}

const std::vector<std::string>& drawer_names(Cabinet cabinet) {
  static const std::vector<std::string> none,
      one = {"drawer"}, three = {"top_drawer", "middle_drawer", "bottom_drawer"};
  switch (cabinet) {
    case Cabinet::OneDrawer:
      return one;
    case Cabinet::ThreeDrawers:
      return three;
    case Cabinet::None:
      break;
  }
  return none;
}

std::string drawer_joint(const std::string& drawer) {
  return drawer + "_joint";
}

std::array<double, 3> handle_offset(Cabinet cabinet, const std::string& drawer) {
  const auto& names = drawer_names(cabinet);
  const auto at = std::find(names.begin(), names.end(), drawer);
  AVLA_CHECK(at != names.end(), "sim", "the cabinet has no drawer '{}'", drawer);
  if (cabinet == Cabinet::ThreeDrawers) {
    return {-geom::chest_handle_standoff, geom::chest_handle_y[at - names.begin()],
            geom::chest_drawer_height / 2};
  }
  return {geom::wall, 0.0, geom::handle_height};
}

DrawerInterior drawer_interior(Cabinet cabinet) {
  using namespace geom;
  // the walls drawer_box_xml builds: inner faces of the front panel, back and sides, the floor
  // plate's top, the walls' top
  if (cabinet == Cabinet::ThreeDrawers) {
    return {2 * wall, chest_depth - 4 * wall, chest_half_width - 3 * wall - 0.002,
            floor_plate_z + wall, chest_drawer_height - 0.012};
  }
  return {2 * wall, cabinet_depth - 4 * wall, cabinet_half_width - 3 * wall - 0.002,
          floor_plate_z + wall, one_drawer_wall_z + one_drawer_wall_half};
}

bool in_cabinet_footprint(const SceneSpec& spec, const std::array<double, 3>& at, double margin) {
  using namespace geom;
  if (spec.cabinet == Cabinet::None) return false;
  const bool three = spec.cabinet == Cabinet::ThreeDrawers;
  const auto& pos = three ? chest_pos : cabinet_pos;
  const double depth = three ? chest_depth : cabinet_depth;
  const double half_width = three ? chest_half_width : cabinet_half_width;
  const double front = pos[0] - depth - drawer_travel - (three ? chest_handle_standoff : 0.0);
  return at[0] > front - margin && std::abs(at[1] - pos[1]) < half_width + margin;
}

}  // namespace avla::sim
