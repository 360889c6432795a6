// the tabletop scene as MJCF text generated in code: a 7-DoF arm with a parallel-jaw gripper, a
// table, primitive objects in named colours, and optionally a cabinet with one or three sliding
// drawers.
//
// frame: table top at z = 0, the robot base at x = -0.55 facing +x; "left" is +y as the robot
// sees it. all lengths in metres.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace avla::sim {

// Spoon, Carrot and Eggplant lie on the table with their long axis along the body's x (the bridge
// suite's objects); Towel is a flat cloth, a receptacle that things are put on
// Can is a soda can standing upright, LyingCan the same can on its side (long axis along the
// body's x), Apple a sphere (the fractal suite's objects)
enum class ObjectKind {
  Cube,
  Cylinder,
  Bowl,
  Plate,
  Basket,
  Spoon,
  Carrot,
  Eggplant,
  Towel,
  Can,
  LyingCan,
  Apple
};

// an object that lies with its long axis along the body's x: grasped across that axis
bool is_elongated(ObjectKind kind);
// an object that others are put in or on (bowl, plate, basket, towel)
bool is_receptacle(ObjectKind kind);

// where the main camera ("agentview") looks from, and whether the hand carries a wrist camera:
// Libero: LIBERO's front view facing the robot, and the wrist camera (two cameras);
// BridgeShoulder: Bridge-V2's over-the-shoulder view from behind and beside the robot's base, and
// no wrist camera (one camera, as SimplerEnv's WidowX tasks give a policy); GoogleHead: the Google
// robot's head camera, high above the base looking ahead and down, no wrist camera
enum class CameraRig { Libero, BridgeShoulder, GoogleHead };

// the furniture a scene may hold: none; LIBERO's cabinet with one drawer (the goal and long
// suites; its bar handle stands above the front panel); or the Google robot's cabinet with three
// drawers (the fractal suite; each bar handle stands out in front of its drawer)
enum class Cabinet { None, OneDrawer, ThreeDrawers };

struct ObjectSpec {
  std::string name;  // body name, unique in the scene ("red_cube", "cube_a", ...)
  ObjectKind kind;
  std::string colour;  // one of colour_names()
};

// how a scene looks apart from what stands in it: the default is the "visual matching" look, and
// SimplerEnv's visual variants (sim/variants.h) change these. none of it touches the physics
struct SceneLook {
  double light = 1.0;  // scales the directional light and the headlight
  std::string table;   // table-top colour name (empty: the wood)
  std::string floor;   // floor colour name, the background above the table (empty: grey)
  std::array<double, 3> camera_shift{};  // main camera position offset (m), aimed at the same point
};

struct SceneSpec {
  std::vector<ObjectSpec> objects;
  Cabinet cabinet = Cabinet::None;
  CameraRig rig = CameraRig::Libero;
  SceneLook look;
  int image_size = 128;  // offscreen buffer side (cameras render at most this size)

  bool wrist_camera() const { return rig == CameraRig::Libero; }  // the others have none
  int n_camera() const { return wrist_camera() ? 2 : 1; }
};

// object geometry shared by the scene builder, the layout sampler, the experts and the predicates
namespace geom {
constexpr double cube_half = 0.02;        // cube half side
constexpr double cylinder_radius = 0.02;  // graspable cylinder
constexpr double cylinder_half = 0.025;   // half height
constexpr double bowl_radius = 0.07;      // inner radius at the rim
constexpr double bowl_height = 0.045;
constexpr double plate_radius = 0.08;
constexpr double plate_half = 0.006;
constexpr double basket_half = 0.09;  // inner half side
constexpr double basket_height = 0.07;
constexpr double wall = 0.006;  // wall half thickness of bowl, basket, cabinet
// the lying objects: half length along the body x, radius (half width) across it
constexpr double spoon_half = 0.07, spoon_radius = 0.009;
constexpr double carrot_half = 0.055, carrot_radius = 0.015;
constexpr double eggplant_half = 0.055, eggplant_radius = 0.026;
constexpr double towel_half = 0.075, towel_half_z = 0.003;
constexpr double can_radius = 0.03,
                 can_half = 0.061;  // a slim soda can (the fingers open to 4 cm each)
constexpr double apple_radius = 0.035;
// cabinet: front face at cabinet_pos.x - cabinet_depth, drawer slides toward -x
constexpr std::array<double, 2> cabinet_pos = {0.17, 0.2};  // back centre (x, y)
constexpr double cabinet_depth = 0.2;
constexpr double cabinet_half_width = 0.12;
constexpr double cabinet_height = 0.12;
constexpr double drawer_travel = 0.15;  // slide range [0, drawer_travel]
constexpr double handle_height = 0.16;  // bar centre above the table
constexpr double handle_radius = 0.008;
// the three-drawer cabinet: back centre at chest_pos, front face at chest_pos.x - chest_depth,
// three drawers of chest_drawer_height stacked on a plinth (bottom, middle, top). each handle is a
// short bar along y at its drawer's mid height, chest_handle_standoff in front of the front panel,
// so that open fingers straddle it from above with the palm clear of the panel; the three bars sit
// at different y (chest_handle_y, top to bottom), so that a palm reaching a lower one passes no bar
constexpr std::array<double, 2> chest_pos = {0.3, 0.0};
constexpr double chest_depth = 0.2;
constexpr double chest_half_width = 0.13;
constexpr double chest_plinth = 0.01;
constexpr double chest_drawer_height = 0.08;
constexpr double chest_handle_standoff = 0.08;
constexpr double chest_handle_half = 0.03;
constexpr std::array<double, 3> chest_handle_y = {0.08, 0.0, -0.08};
constexpr double chest_height = chest_plinth + 3 * chest_drawer_height + 2 * wall;
constexpr double table_half_x = 0.45;
constexpr double table_half_y = 0.55;
constexpr double robot_base_x = -0.55;
}  // namespace geom

// footprint radius of an object on the table (for non-overlapping layouts)
double footprint_radius(ObjectKind kind);
// height of the object's body origin above the table when resting upright
double rest_height(ObjectKind kind);
// how far below its body origin a top-down grasp closes on the object: a standing can low, 2.5
// cm below its centre, where closing fingers tip it least; at the origin for every other kind
double grasp_depth(ObjectKind kind);
std::string kind_name(ObjectKind kind);
const std::vector<std::string>& colour_names();
std::array<float, 4> colour_rgba(const std::string& colour);  // throws on unknown colour

// arm joint names in chain order and the finger joints
const std::vector<std::string>& arm_joint_names();
const std::vector<std::string>& finger_joint_names();
constexpr int n_arm_joint = 7;
constexpr double finger_open = 0.04;  // per finger, metres from the centre line

// the full MJCF document for a scene
std::string build_scene_xml(const SceneSpec& spec);

}  // namespace avla::sim
