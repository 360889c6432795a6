// MJCF generation for the tabletop scene. one function per part: arm, table, objects, cabinet.
#include "sim/scene.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "sim/cabinet.h"
#include "util/error.h"

namespace avla::sim {

namespace {

using Vec3 = std::array<double, 3>;

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

Vec3 normalized(const Vec3& v) {
  const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  return {v[0] / n, v[1] / n, v[2] / n};
}

// xyaxes of a camera at pos looking at target with world-up z (image right, image up)
std::string look_at_xyaxes(const Vec3& pos, const Vec3& target) {
  const Vec3 forward = normalized({target[0] - pos[0], target[1] - pos[1], target[2] - pos[2]});
  const Vec3 right = normalized(cross(forward, {0, 0, 1}));
  const Vec3 up = cross(right, forward);
  return fmt::format("{:.5f} {:.5f} {:.5f} {:.5f} {:.5f} {:.5f}", right[0], right[1], right[2],
                     up[0], up[1], up[2]);
}

std::string rgba_text(const std::string& colour) {
  const auto c = colour_rgba(colour);
  return fmt::format("{} {} {} {}", c[0], c[1], c[2], c[3]);
}

// the arm: 7 revolute joints (yaw, pitch, roll, pitch, roll, pitch, roll) from a base on the
// table, a palm and two sliding fingers. links do not collide; the palm and fingers do.
std::string arm_xml() {
  std::string x;
  x += fmt::format("<body name=\"base\" pos=\"{} 0 0\">\n", geom::robot_base_x);
  x += "<geom class=\"visual\" type=\"cylinder\" size=\"0.09 0.05\" pos=\"0 0 0.05\" rgba=\".25 "
       ".25 .28 1\"/>\n";
  x += "<body name=\"link1\" pos=\"0 0 0.1\">\n"
       "<joint name=\"joint1\" class=\"arm\" damping=\"60\" axis=\"0 0 1\" range=\"-2.9 2.9\"/>\n"
       "<geom class=\"link\" fromto=\"0 0 0 0 0 0.22\" size=\"0.06\"/>\n";
  x += "<body name=\"link2\" pos=\"0 0 0.22\">\n"
       "<joint name=\"joint2\" class=\"arm\" damping=\"60\" axis=\"0 1 0\" range=\"-1.76 1.76\"/>\n"
       "<geom class=\"link\" fromto=\"0 0 0 0 0 0.2\" size=\"0.055\"/>\n";
  x += "<body name=\"link3\" pos=\"0 0 0.2\">\n"
       "<joint name=\"joint3\" class=\"arm\" damping=\"40\" axis=\"0 0 1\" range=\"-2.9 2.9\"/>\n"
       "<geom class=\"link\" fromto=\"0 0 0 0 0 0.2\" size=\"0.05\"/>\n";
  x += "<body name=\"link4\" pos=\"0 0 0.2\">\n"
       "<joint name=\"joint4\" class=\"arm\" damping=\"40\" axis=\"0 1 0\" range=\"-0.2 2.9\"/>\n"
       "<geom class=\"link\" fromto=\"0 0 0 0 0 0.2\" size=\"0.045\"/>\n";
  x += "<body name=\"link5\" pos=\"0 0 0.2\">\n"
       "<joint name=\"joint5\" class=\"arm\" damping=\"20\" axis=\"0 0 1\" range=\"-2.9 2.9\"/>\n"
       "<geom class=\"link\" fromto=\"0 0 0 0 0 0.2\" size=\"0.04\"/>\n";
  x += "<body name=\"link6\" pos=\"0 0 0.2\">\n"
       "<joint name=\"joint6\" class=\"arm\" damping=\"20\" axis=\"0 1 0\" range=\"-1.2 2.9\"/>\n"
       "<geom class=\"link\" fromto=\"0 0 0 0 0 0.05\" size=\"0.04\"/>\n";
  // the hand: palm, fingers along local x, grip site between the pads, wrist camera
  x += "<body name=\"hand\" pos=\"0 0 0.06\">\n"
       "<joint name=\"joint7\" class=\"arm\" damping=\"10\" axis=\"0 0 1\" range=\"-2.9 2.9\"/>\n"
       "<geom class=\"grip\" type=\"box\" size=\"0.07 0.025 0.02\" pos=\"0 0 0.025\" "
       "rgba=\".85 .85 .88 1\" mass=\"0.4\"/>\n"
       "<site name=\"grip_site\" pos=\"0 0 0.085\" size=\"0.005\" rgba=\"1 0 0 0\"/>\n";
  const Vec3 cam_pos = {0.0, -0.055, 0.0};
  const Vec3 cam_target = {0.0, 0.0, 0.22};
  // camera looks along its -z: z = -(target - pos); x = image right = local +x
  const Vec3 view = normalized(
      {cam_target[0] - cam_pos[0], cam_target[1] - cam_pos[1], cam_target[2] - cam_pos[2]});
  const Vec3 cam_z = {-view[0], -view[1], -view[2]};
  const Vec3 cam_x = {1, 0, 0};
  const Vec3 cam_y = cross(cam_z, cam_x);
  x += fmt::format(
      "<camera name=\"eye_in_hand\" pos=\"{} {} {}\" xyaxes=\"{} {} {} {:.5f} {:.5f} {:.5f}\" "
      "fovy=\"75\"/>\n",
      cam_pos[0], cam_pos[1], cam_pos[2], cam_x[0], cam_x[1], cam_x[2], cam_y[0], cam_y[1],
      cam_y[2]);
  for (int side = 0; side < 2; ++side) {
    const double sign = side == 0 ? 1.0 : -1.0;
    x += fmt::format(
        "<body name=\"{}\" pos=\"0 0 0.045\">\n"
        "<joint name=\"{}\" type=\"slide\" axis=\"{} 0 0\" range=\"0 {}\" damping=\"5\" "
        "armature=\"0.01\"/>\n"
        "<geom class=\"finger\" type=\"box\" size=\"0.008 0.014 0.028\" pos=\"{} 0 0.028\"/>\n"
        "</body>\n",
        side == 0 ? "finger_left" : "finger_right", finger_joint_names()[side], sign, finger_open,
        sign * 0.008);
  }
  x += "</body></body></body></body></body></body></body></body>\n";
  return x;
}

std::string table_xml(const SceneLook& look) {
  const double cx = (geom::robot_base_x - 0.12 + geom::table_half_x) / 2.0;
  const double hx = (geom::table_half_x - (geom::robot_base_x - 0.12)) / 2.0;
  std::string x;
  // the table top collides as a plane (cheap analytic contacts); the box is only drawn
  x += fmt::format(
      "<geom name=\"table\" class=\"visual\" type=\"box\" size=\"{} {} 0.02\" "
      "pos=\"{} 0 -0.02\" rgba=\"{}\"/>\n",
      hx, geom::table_half_y, cx, look.table.empty() ? ".62 .5 .38 1" : rgba_text(look.table));
  x += "<geom name=\"table_top\" type=\"plane\" size=\"0 0 1\" group=\"3\"/>\n";
  for (double lx : {cx - hx + 0.05, cx + hx - 0.05}) {
    for (double ly : {-geom::table_half_y + 0.05, geom::table_half_y - 0.05}) {
      x += fmt::format(
          "<geom class=\"visual\" type=\"box\" size=\"0.025 0.025 0.37\" pos=\"{} {} -0.41\" "
          "rgba=\".4 .3 .22 1\"/>\n",
          lx, ly);
    }
  }
  x += fmt::format(
      "<geom name=\"floor\" class=\"visual\" type=\"box\" size=\"3 3 0.01\" "
      "pos=\"0 0 -0.79\" rgba=\"{}\"/>\n",
      look.floor.empty() ? ".55 .57 .6 1" : rgba_text(look.floor));
  return x;
}

// a ring of n wall boxes of the given half height around radius r (bowl walls)
std::string ring_xml(double radius, double half_height, int n, const std::string& rgba,
                     double mass) {
  std::string x;
  const double half_len = radius * std::tan(M_PI / n) + geom::wall;
  for (int i = 0; i < n; ++i) {
    const double a = 2.0 * M_PI * i / n;
    x += fmt::format(
        "<geom type=\"box\" size=\"{} {} {}\" pos=\"{:.5f} {:.5f} {}\" euler=\"0 0 {:.5f}\" "
        "rgba=\"{}\" mass=\"{}\"/>\n",
        geom::wall, half_len, half_height, (radius + geom::wall) * std::cos(a),
        (radius + geom::wall) * std::sin(a), half_height + 0.004, a, rgba, mass / n);
  }
  return x;
}

std::string object_xml(const ObjectSpec& o) {
  const std::string rgba = rgba_text(o.colour);
  std::string x = fmt::format("<body name=\"{}\" pos=\"0 0 {}\">\n<freejoint name=\"{}_joint\"/>\n",
                              o.name, rest_height(o.kind), o.name);
  switch (o.kind) {
    case ObjectKind::Cube:
      x += fmt::format(
          "<geom class=\"object\" type=\"box\" size=\"{0} {0} {0}\" rgba=\"{1}\" "
          "mass=\"0.05\"/>\n",
          geom::cube_half, rgba);
      break;
    case ObjectKind::Cylinder:
      x += fmt::format(
          "<geom class=\"object\" type=\"cylinder\" size=\"{} {}\" rgba=\"{}\" "
          "mass=\"0.05\"/>\n",
          geom::cylinder_radius, geom::cylinder_half, rgba);
      break;
    case ObjectKind::Bowl:
      x += fmt::format(
          "<geom type=\"cylinder\" size=\"{} 0.004\" pos=\"0 0 0.004\" rgba=\"{}\" "
          "mass=\"0.05\"/>\n",
          geom::bowl_radius + geom::wall, rgba);
      x += ring_xml(geom::bowl_radius, geom::bowl_height / 2, 16, rgba, 0.1);
      break;
    case ObjectKind::Plate:
      x += fmt::format("<geom type=\"cylinder\" size=\"{} {}\" rgba=\"{}\" mass=\"0.1\"/>\n",
                       geom::plate_radius, geom::plate_half, rgba);
      break;
    case ObjectKind::Spoon:
      // a handle (grasped at the body origin) and a shallow bowl at its +x end, resting flat
      x += fmt::format(
          "<geom class=\"object\" type=\"capsule\" fromto=\"{} 0 0 0.03 0 0\" size=\"{}\" "
          "rgba=\"{}\" mass=\"0.03\"/>\n",
          -(geom::spoon_half - geom::spoon_radius), geom::spoon_radius, rgba);
      x += fmt::format(
          "<geom class=\"object\" type=\"ellipsoid\" size=\"0.025 0.017 0.006\" "
          "pos=\"{} 0 {}\" rgba=\"{}\" mass=\"0.01\"/>\n",
          geom::spoon_half - 0.025, 0.006 - geom::spoon_radius, rgba);
      break;
    case ObjectKind::Carrot:
      x += fmt::format(
          "<geom class=\"object\" type=\"capsule\" fromto=\"{0} 0 0 {1} 0 0\" size=\"{2}\" "
          "rgba=\"{3}\" mass=\"0.04\"/>\n",
          -(geom::carrot_half - geom::carrot_radius), geom::carrot_half - geom::carrot_radius,
          geom::carrot_radius, rgba);
      // the leaves: drawn only
      x += fmt::format(
          "<geom class=\"visual\" type=\"cylinder\" fromto=\"{} 0 0 {} 0 0\" size=\"0.007\" "
          "rgba=\"{}\"/>\n",
          -geom::carrot_half, -geom::carrot_half - 0.025, rgba_text("green"));
      break;
    case ObjectKind::Eggplant:
      x += fmt::format(
          "<geom class=\"object\" type=\"ellipsoid\" size=\"{} {} {}\" rgba=\"{}\" "
          "mass=\"0.06\"/>\n",
          geom::eggplant_half, geom::eggplant_radius, geom::eggplant_radius, rgba);
      x += fmt::format(
          "<geom class=\"visual\" type=\"cylinder\" fromto=\"{} 0 0 {} 0 0\" size=\"0.008\" "
          "rgba=\"{}\"/>\n",
          geom::eggplant_half - 0.01, geom::eggplant_half + 0.015, rgba_text("green"));
      break;
    case ObjectKind::Towel:
      x += fmt::format(
          "<geom class=\"object\" type=\"box\" size=\"{0} {0} {1}\" rgba=\"{2}\" "
          "mass=\"0.04\" friction=\"1.5 0.01 0.001\"/>\n",
          geom::towel_half, geom::towel_half_z, rgba);
      break;
    case ObjectKind::Can:
      x += fmt::format(
          "<geom class=\"object\" type=\"cylinder\" size=\"{} {}\" rgba=\"{}\" "
          "mass=\"0.2\"/>\n",
          geom::can_radius, geom::can_half, rgba);
      break;
    case ObjectKind::LyingCan:
      x += fmt::format(
          "<geom class=\"object\" type=\"cylinder\" fromto=\"{0} 0 0 {1} 0 0\" size=\"{2}\" "
          "rgba=\"{3}\" mass=\"0.2\"/>\n",
          -geom::can_half, geom::can_half, geom::can_radius, rgba);
      break;
    case ObjectKind::Apple:
      x += fmt::format(
          "<geom class=\"object\" type=\"sphere\" size=\"{}\" rgba=\"{}\" mass=\"0.06\"/>\n",
          geom::apple_radius, rgba);
      x += fmt::format(
          "<geom class=\"visual\" type=\"cylinder\" size=\"0.004 0.008\" pos=\"0 0 {}\" "
          "rgba=\"{}\"/>\n",
          geom::apple_radius + 0.004, rgba_text("brown"));
      break;
    case ObjectKind::Basket: {
      const double outer = geom::basket_half + geom::wall;
      x += fmt::format(
          "<geom type=\"box\" size=\"{0} {0} 0.004\" pos=\"0 0 0.004\" rgba=\"{1}\" "
          "mass=\"0.1\"/>\n",
          outer, rgba);
      const double hz = geom::basket_height / 2;
      for (int i = 0; i < 4; ++i) {
        const double sx = (i == 0) ? 1 : (i == 1) ? -1 : 0;
        const double sy = (i == 2) ? 1 : (i == 3) ? -1 : 0;
        x += fmt::format(
            "<geom type=\"box\" size=\"{} {} {}\" pos=\"{} {} {}\" rgba=\"{}\" mass=\"0.05\"/>\n",
            sx != 0 ? geom::wall : outer, sy != 0 ? geom::wall : outer, hz,
            sx * (geom::basket_half + geom::wall), sy * (geom::basket_half + geom::wall), hz, rgba);
      }
      break;
    }
  }
  x += "</body>\n";
  return x;
}

}  // namespace

double footprint_radius(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::Cube:
      return geom::cube_half * 1.42;
    case ObjectKind::Cylinder:
      return geom::cylinder_radius;
    case ObjectKind::Bowl:
      return geom::bowl_radius + 2 * geom::wall;
    case ObjectKind::Plate:
      return geom::plate_radius;
    case ObjectKind::Basket:
      return (geom::basket_half + 2 * geom::wall) * 1.42;
    case ObjectKind::Spoon:
      return geom::spoon_half;
    case ObjectKind::Carrot:
      return geom::carrot_half + 0.02;  // the leaves
    case ObjectKind::Eggplant:
      return geom::eggplant_half + 0.01;  // the stem
    case ObjectKind::Towel:
      return geom::towel_half * 1.42;
    case ObjectKind::Can:
      return geom::can_radius;
    case ObjectKind::LyingCan:
      return geom::can_half;
    case ObjectKind::Apple:
      return geom::apple_radius;
  }
  return 0.0;
}

double rest_height(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::Cube:
      return geom::cube_half;
    case ObjectKind::Cylinder:
      return geom::cylinder_half;
    case ObjectKind::Bowl:
      return 0.0;
    case ObjectKind::Plate:
      return geom::plate_half;
    case ObjectKind::Basket:
      return 0.0;
    case ObjectKind::Spoon:
      return geom::spoon_radius;
    case ObjectKind::Carrot:
      return geom::carrot_radius;
    case ObjectKind::Eggplant:
      return geom::eggplant_radius;
    case ObjectKind::Towel:
      return geom::towel_half_z;
    case ObjectKind::Can:
      return geom::can_half;
    case ObjectKind::LyingCan:
      return geom::can_radius;
    case ObjectKind::Apple:
      return geom::apple_radius;
  }
  return 0.0;
}

double grasp_depth(ObjectKind kind) {
  return kind == ObjectKind::Can ? 0.025 : 0.0;
}

bool is_elongated(ObjectKind kind) {
  return kind == ObjectKind::Spoon || kind == ObjectKind::Carrot || kind == ObjectKind::Eggplant ||
         kind == ObjectKind::LyingCan;
}

bool is_receptacle(ObjectKind kind) {
  return kind == ObjectKind::Bowl || kind == ObjectKind::Plate || kind == ObjectKind::Basket ||
         kind == ObjectKind::Towel;
}

std::string kind_name(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::Cube:
      return "cube";
    case ObjectKind::Cylinder:
      return "cylinder";
    case ObjectKind::Bowl:
      return "bowl";
    case ObjectKind::Plate:
      return "plate";
    case ObjectKind::Basket:
      return "basket";
    case ObjectKind::Spoon:
      return "spoon";
    case ObjectKind::Carrot:
      return "carrot";
    case ObjectKind::Eggplant:
      return "eggplant";
    case ObjectKind::Towel:
      return "towel";
    case ObjectKind::Can:
    case ObjectKind::LyingCan:
      return "can";
    case ObjectKind::Apple:
      return "apple";
  }
  return "?";
}

namespace {
const std::map<std::string, std::array<float, 4>>& colour_table() {
  static const std::map<std::string, std::array<float, 4>> table = {
      {"red", {0.85f, 0.12f, 0.1f, 1}},     {"green", {0.15f, 0.7f, 0.2f, 1}},
      {"blue", {0.15f, 0.3f, 0.9f, 1}},     {"yellow", {0.95f, 0.85f, 0.1f, 1}},
      {"orange", {0.98f, 0.5f, 0.05f, 1}},  {"purple", {0.55f, 0.2f, 0.75f, 1}},
      {"white", {0.93f, 0.93f, 0.9f, 1}},   {"black", {0.08f, 0.08f, 0.08f, 1}},
      {"brown", {0.5f, 0.33f, 0.18f, 1}},   {"pink", {0.98f, 0.55f, 0.7f, 1}},
      {"silver", {0.72f, 0.74f, 0.78f, 1}}, {"cyan", {0.1f, 0.7f, 0.75f, 1}},
      {"grey", {0.4f, 0.4f, 0.42f, 1}},
  };
  return table;
}
}  // namespace

const std::vector<std::string>& colour_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& [name, rgba] : colour_table()) out.push_back(name);
    return out;
  }();
  return names;
}

std::array<float, 4> colour_rgba(const std::string& colour) {
  const auto it = colour_table().find(colour);
  AVLA_CHECK(it != colour_table().end(), "sim", "unknown colour '{}'", colour);
  return it->second;
}

const std::vector<std::string>& arm_joint_names() {
  static const std::vector<std::string> names = {"joint1", "joint2", "joint3", "joint4",
                                                 "joint5", "joint6", "joint7"};
  return names;
}

const std::vector<std::string>& finger_joint_names() {
  static const std::vector<std::string> names = {"finger_left_joint", "finger_right_joint"};
  return names;
}

std::string build_scene_xml(const SceneSpec& spec) {
  AVLA_CHECK(spec.image_size >= 8 && spec.image_size <= 2048, "sim",
             "image_size {} outside [8, 2048]", spec.image_size);
  std::string x;
  x += "<mujoco model=\"asyncvla_tabletop\">\n";
  x += "<compiler angle=\"radian\" inertiafromgeom=\"true\" autolimits=\"true\"/>\n";
  // elliptic cones with a high impedance ratio keep pinched objects from slipping
  x += "<option timestep=\"0.005\" integrator=\"implicit\" cone=\"elliptic\" impratio=\"10\"/>\n";
  x += fmt::format(
      "<visual><global offwidth=\"{0}\" offheight=\"{0}\"/>"
      "<quality shadowsize=\"0\" offsamples=\"0\" numslices=\"12\" numstacks=\"6\" numquads=\"1\"/>"
      "<headlight ambient=\"{1:.3f} {1:.3f} {1:.3f}\" diffuse=\"{2:.3f} {2:.3f} {2:.3f}\" "
      "specular=\"0 0 0\"/>"
      "<map znear=\"0.01\"/></visual>\n",
      spec.image_size, 0.35 * spec.look.light, 0.45 * spec.look.light);
  x += "<size nconmax=\"400\" njmax=\"2000\"/>\n";
  x +=
      "<default>\n"
      "<geom friction=\"1 0.005 0.0001\" solref=\"0.01 1\"/>\n"
      "<default class=\"arm\"><joint damping=\"40\" armature=\"0.1\" limited=\"true\"/></default>\n"
      "<default class=\"link\"><geom type=\"capsule\" contype=\"0\" conaffinity=\"0\" "
      "rgba=\".92 .92 .94 1\" density=\"400\"/></default>\n"
      "<default class=\"visual\"><geom contype=\"0\" conaffinity=\"0\" density=\"0\"/></default>\n"
      "<default class=\"grip\"><geom contype=\"1\" conaffinity=\"1\"/></default>\n"
      "<default class=\"finger\"><geom contype=\"1\" conaffinity=\"1\" condim=\"4\" "
      "friction=\"1.5 0.01 0.001\" rgba=\".3 .3 .32 1\" mass=\"0.05\"/></default>\n"
      "<default class=\"object\"><geom condim=\"4\" friction=\"1.2 0.01 0.001\"/></default>\n"
      "<default class=\"furniture\"><geom contype=\"2\" conaffinity=\"1\"/></default>\n"
      "</default>\n";
  x += "<worldbody>\n";
  x += fmt::format(
      "<light directional=\"true\" pos=\"0 0 2\" dir=\"0.3 0.2 -1\" diffuse=\"{0:.3f} {0:.3f} "
      "{0:.3f}\" castshadow=\"false\"/>\n",
      0.55 * spec.look.light);
  // the main camera: LIBERO's front view, Bridge's over the robot's right shoulder, or the Google
  // robot's head
  Vec3 agent_pos{0.62, 0.0, 0.58}, agent_target{-0.12, 0.0, 0.0};
  if (spec.rig == CameraRig::BridgeShoulder) {
    agent_pos = {-0.62, -0.5, 0.8};
    agent_target = {-0.06, 0.02, 0.0};
  } else if (spec.rig == CameraRig::GoogleHead) {
    agent_pos = {-0.62, 0.3, 0.85};
    agent_target = {-0.04, -0.03, 0.0};
    // facing the three-drawer cabinet, as the Google robot stands before its cabinet
    if (spec.cabinet == Cabinet::ThreeDrawers) agent_target = {0.1, -0.04, 0.06};
  }
  for (int i = 0; i < 3; ++i) agent_pos[i] += spec.look.camera_shift[i];
  x += fmt::format("<camera name=\"agentview\" pos=\"{} {} {}\" xyaxes=\"{}\" fovy=\"{}\"/>\n",
                   agent_pos[0], agent_pos[1], agent_pos[2],
                   look_at_xyaxes(agent_pos, agent_target), 45);
  x += table_xml(spec.look);
  x += arm_xml();
  x += cabinet_xml(spec.cabinet);
  for (const auto& o : spec.objects) {
    AVLA_CHECK(!o.name.empty(), "sim", "object without a name");
    x += object_xml(o);
  }
  x += "</worldbody>\n";
  x += "<contact><exclude body1=\"finger_left\" body2=\"finger_right\"/></contact>\n";
  // position servos on every joint; gravity is compensated by the controller
  x += "<actuator>\n";
  const double kp[n_arm_joint] = {2000, 2000, 1200, 1200, 600, 600, 300};
  for (int j = 0; j < n_arm_joint; ++j) {
    x += fmt::format(
        "<position name=\"{0}_servo\" joint=\"{0}\" kp=\"{1}\" forcelimited=\"true\" "
        "forcerange=\"-300 300\"/>\n",
        arm_joint_names()[j], kp[j]);
  }
  for (const auto& f : finger_joint_names()) {
    x += fmt::format(
        "<position name=\"{0}_servo\" joint=\"{0}\" kp=\"300\" ctrllimited=\"true\" "
        "ctrlrange=\"0 {1}\" forcelimited=\"true\" forcerange=\"-15 15\"/>\n",
        f, finger_open);
  }
  x += "</actuator>\n</mujoco>\n";
  return x;
}

}  // namespace avla::sim
