// a compiled MuJoCo scene: the fixed model (mjModel) apart from its mutable state (mjData), name
// lookups and the state accessors that tasks, experts and the environment share.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

struct mjModel_;
struct mjData_;
typedef struct mjModel_ mjModel;
typedef struct mjData_ mjData;

namespace avla::sim {

using Vec3 = std::array<double, 3>;
using Quat = std::array<double, 4>;  // w, x, y, z

struct Pose {
  Vec3 pos;
  Quat quat;
};

// horizontal distance between two points
double distance_xy(const Vec3& a, const Vec3& b);
// rotation about the world z axis of an orientation
double yaw_of(const Quat& q);
// the orientation that is a pure rotation by yaw about the world z axis (upright)
Quat yaw_quat(double yaw);

class Physics {
 public:
  // compiles MJCF text; any MuJoCo error or warning is an avla::Error naming the component
  explicit Physics(const std::string& xml);
  ~Physics();
  Physics(const Physics&) = delete;
  Physics& operator=(const Physics&) = delete;

  const mjModel* model() const { return model_; }
  mjData* data() { return data_; }
  const mjData* data() const { return data_; }

  // ids (throw on unknown names)
  int body_id(const std::string& name) const;
  int joint_id(const std::string& name) const;
  int site_id(const std::string& name) const;
  int camera_id(const std::string& name) const;
  // true when a contact of the last forward() pairs a body of root's subtree with one outside it
  // (an arm placed into the table or an object)
  bool touches_outside(const std::string& root) const;
  // true when a contact of the last forward() pairs a geom of body a with a geom of body b (the
  // bodies themselves, not their subtrees)
  bool in_contact(const std::string& a, const std::string& b) const;

  Pose body_pose(const std::string& name) const;  // world frame, after forward()
  Pose site_pose(const std::string& name) const;
  double joint_qpos(const std::string& name) const;
  void set_joint_qpos(const std::string& name, double value);
  void set_free_pose(const std::string& body, const Pose& pose);  // body with a freejoint

  // flattened simulator state [time | qpos | qvel] (LIBERO "states")
  std::vector<double> state() const;
  void set_state(const std::vector<double>& state);
  int state_size() const;

  void forward();  // mj_forward
  void reset();    // mj_resetData + forward
  // messages of warnings MuJoCo raised while stepping this data (contact buffer, instability)
  std::vector<std::string> runtime_warnings() const;

 private:
  mjModel* model_ = nullptr;
  mjData* data_ = nullptr;
};

// warnings MuJoCo printed while compiling the last model on this thread (empty = clean)
const std::vector<std::string>& last_compile_warnings();

}  // namespace avla::sim
