// MJCF and geometry of the cabinets: LIBERO's with one drawer and the Google robot's with three.
#include "sim/cabinet.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace avla::sim {

namespace {

// a fixed cabinet (top, sides, back) and a drawer on a slide joint with a bar handle above
// its front panel. cabinet and drawer do not collide with each other (contype 2).
std::string one_drawer_xml() {
  using namespace geom;
  const double d = cabinet_depth, hw = cabinet_half_width, h = cabinet_height, w = wall;
  const std::string body_rgba = ".45 .32 .22 1", drawer_rgba = ".55 .4 .28 1";
  std::string x =
      fmt::format("<body name=\"cabinet\" pos=\"{} {} 0\">\n", cabinet_pos[0], cabinet_pos[1]);
  x += fmt::format(
      "<geom class=\"furniture\" type=\"box\" size=\"{} {} {}\" pos=\"{} 0 {}\" rgba=\"{}\"/>\n",
      d / 2, hw, w, -d / 2, h - w, body_rgba);
  for (double sy : {-1.0, 1.0}) {
    x += fmt::format(
        "<geom class=\"furniture\" type=\"box\" size=\"{} {} {}\" pos=\"{} {} {}\" rgba=\"{}\"/>\n",
        d / 2, w, h / 2, -d / 2, sy * (hw - w), h / 2, body_rgba);
  }
  x += fmt::format(
      "<geom class=\"furniture\" type=\"box\" size=\"{} {} {}\" pos=\"{} 0 {}\" rgba=\"{}\"/>\n", w,
      hw, h / 2, -w, h / 2, body_rgba);
  // the drawer: origin at the closed front face
  const double inner_hw = hw - 2 * w - 0.002, front_top = h - 2 * w - 0.002;
  x += fmt::format("<body name=\"drawer\" pos=\"{} 0 0\">\n", -d);
  x += fmt::format(
      "<joint name=\"drawer_joint\" type=\"slide\" axis=\"-1 0 0\" range=\"0 {}\" "
      "damping=\"4\" armature=\"0.05\" frictionloss=\"0.05\"/>\n",
      drawer_travel);
  x += fmt::format(
      "<geom class=\"furniture\" type=\"box\" size=\"{} {} {}\" pos=\"{} 0 {}\" rgba=\"{}\" "
      "mass=\"0.2\"/>\n",
      w, hw - 0.002, front_top / 2, w, front_top / 2 + 0.001, drawer_rgba);
  x += fmt::format(
      "<geom class=\"furniture\" type=\"box\" size=\"{} {} {}\" pos=\"{} 0 0.012\" rgba=\"{}\" "
      "mass=\"0.1\"/>\n",
      (d - 4 * w) / 2, inner_hw, w, d / 2, drawer_rgba);
  for (double sy : {-1.0, 1.0}) {
    x += fmt::format(
        "<geom class=\"furniture\" type=\"box\" size=\"{} {} 0.03\" pos=\"{} {} 0.035\" "
        "rgba=\"{}\" mass=\"0.05\"/>\n",
        (d - 4 * w) / 2, w, d / 2, sy * inner_hw, drawer_rgba);
  }
  x += fmt::format(
      "<geom class=\"furniture\" type=\"box\" size=\"{} {} 0.03\" pos=\"{} 0 0.035\" rgba=\"{}\" "
      "mass=\"0.05\"/>\n",
      w, inner_hw, d - 3 * w, drawer_rgba);
  // handle: two posts up from the front panel and a bar along y
  for (double sy : {-1.0, 1.0}) {
    x += fmt::format(
        "<geom class=\"furniture\" type=\"box\" size=\"0.005 0.005 {}\" pos=\"{} {} {}\" rgba=\".2 "
        ".2 .2 1\" mass=\"0.01\"/>\n",
        (handle_height - front_top) / 2, w, sy * 0.05, (handle_height + front_top) / 2);
  }
  x += fmt::format(
      "<geom name=\"handle\" class=\"furniture\" type=\"capsule\" size=\"{}\" "
      "fromto=\"{} -0.06 {} {} 0.06 {}\" rgba=\".2 .2 .2 1\" mass=\"0.02\"/>\n",
      handle_radius, w, handle_height, w, handle_height);
  x += "</body>\n</body>\n";
  return x;
}

// the Google robot's cabinet: a fixed carcass (plinth, sides, back, top) and three drawers, each on
// its own slide joint with a bar handle on two posts standing out in front of its front panel
std::string chest_xml() {
  using namespace geom;
  const double d = chest_depth, hw = chest_half_width, h = chest_drawer_height, w = wall;
  const std::string body_rgba = ".78 .76 .72 1", drawer_rgba = ".7 .68 .64 1";
  std::string x =
      fmt::format("<body name=\"cabinet\" pos=\"{} {} 0\">\n", chest_pos[0], chest_pos[1]);
  auto box = [](const std::string& rgba, double sx, double sy, double sz, double px, double py,
                double pz, const char* mass = "") {
    return fmt::format(
        "<geom class=\"furniture\" type=\"box\" size=\"{} {} {}\" pos=\"{} {} {}\" "
        "rgba=\"{}\"{}/>\n",
        sx, sy, sz, px, py, pz, rgba, mass);
  };
  x += box(body_rgba, d / 2, hw, chest_plinth / 2, -d / 2, 0, chest_plinth / 2);
  x += box(body_rgba, d / 2, hw, w, -d / 2, 0, chest_height - w);
  for (double sy : {-1.0, 1.0}) {
    x += box(body_rgba, d / 2, w, chest_height / 2, -d / 2, sy * (hw - w), chest_height / 2);
  }
  x += box(body_rgba, w, hw, chest_height / 2, -w, 0, chest_height / 2);
  // the drawers, bottom to top: origin at the closed front face, at the drawer's bottom
  const double inner_hw = hw - 2 * w - 0.002, wall_half = (h - 0.024) / 2;
  const auto& names = drawer_names(Cabinet::ThreeDrawers);  // top to bottom
  for (int level = 0; level < 3; ++level) {
    const std::string& name = names[2 - level];
    x += fmt::format("<body name=\"{}\" pos=\"{} 0 {}\">\n", name, -d, chest_plinth + level * h);
    x += fmt::format(
        "<joint name=\"{}\" type=\"slide\" axis=\"-1 0 0\" range=\"0 {}\" damping=\"4\" "
        "armature=\"0.05\" frictionloss=\"0.05\"/>\n",
        drawer_joint(name), drawer_travel);
    x += box(drawer_rgba, w, hw - 0.002, (h - 0.002) / 2, w, 0, h / 2, " mass=\"0.2\"");
    x += box(drawer_rgba, (d - 4 * w) / 2, inner_hw, w, d / 2, 0, 0.012, " mass=\"0.1\"");
    for (double sy : {-1.0, 1.0}) {
      x += box(drawer_rgba, (d - 4 * w) / 2, w, wall_half, d / 2, sy * inner_hw, h / 2,
               " mass=\"0.05\"");
    }
    x += box(drawer_rgba, w, inner_hw, wall_half, d - 3 * w, 0, h / 2, " mass=\"0.05\"");
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
  if (cabinet == Cabinet::ThreeDrawers) {
    return {2 * wall, chest_depth - 4 * wall, chest_half_width - 3 * wall - 0.002, 0.012 + wall,
            chest_drawer_height - 0.012};
  }
  return {2 * wall, cabinet_depth - 4 * wall, cabinet_half_width - 3 * wall - 0.002, 0.012 + wall,
          0.065};
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
