// the cabinets a scene may hold (Cabinet in sim/scene.h): their MJCF, their drawers' names and
// joints, where a drawer's handle and inside are, and the footprint layouts keep clear of
#pragma once

#include <array>
#include <string>
#include <vector>

#include "sim/scene.h"

namespace avla::sim {

// the cabinet's bodies as MJCF (empty for Cabinet::None)
std::string cabinet_xml(Cabinet cabinet);

// a point on the table within margin of the scene's cabinet footprint, its drawers' full travel
// and handles included (false without a cabinet)
bool in_cabinet_footprint(const SceneSpec& spec, const std::array<double, 3>& at, double margin);

// the drawers of a cabinet, top to bottom ("drawer" alone in the one-drawer cabinet; none without
// one). each is a body that slides toward -x on the joint drawer_joint(name), its origin at the
// closed front face (x, y) at the drawer's bottom (z)
const std::vector<std::string>& drawer_names(Cabinet cabinet);
std::string drawer_joint(const std::string& drawer);
// a drawer's handle-bar centre relative to its body origin
std::array<double, 3> handle_offset(Cabinet cabinet, const std::string& drawer);
// the inside of a drawer relative to its body origin: x from inner_x0 to inner_x1 (into the
// cabinet), |y| below inner_half_width, the floor's top at floor_z, the walls' top at rim_z
struct DrawerInterior {
  double inner_x0, inner_x1, inner_half_width, floor_z, rim_z;
};
DrawerInterior drawer_interior(Cabinet cabinet);

}  // namespace avla::sim
