#include "sim/physics.h"

#include <mujoco/mujoco.h>

#include <cmath>
#include <cstring>
#include <mutex>

#include "util/error.h"

namespace avla::sim {

double distance_xy(const Vec3& a, const Vec3& b) {
  return std::hypot(a[0] - b[0], a[1] - b[1]);
}

double yaw_of(const Quat& q) {
  return std::atan2(2 * (q[0] * q[3] + q[1] * q[2]), 1 - 2 * (q[2] * q[2] + q[3] * q[3]));
}

Quat yaw_quat(double yaw) {
  return {std::cos(yaw / 2), 0.0, 0.0, std::sin(yaw / 2)};
}

namespace {

// MuJoCo reports warnings through a process-wide callback; collect them per thread
thread_local std::vector<std::string> tls_warnings;

void collect_warning(const char* message) {
  tls_warnings.emplace_back(message);
}

void install_warning_handler() {
  static std::once_flag once;
  std::call_once(once, [] { mju_user_warning = collect_warning; });
}

}  // namespace

const std::vector<std::string>& last_compile_warnings() {
  return tls_warnings;
}

Physics::Physics(const std::string& xml) {
  install_warning_handler();
  tls_warnings.clear();
  // compile from memory through a virtual file system (mjVFS is ~2 MB: keep it on the heap)
  auto vfs = std::make_unique<mjVFS>();
  mj_defaultVFS(vfs.get());
  const char* file_name = "scene.xml";
  AVLA_CHECK(mj_makeEmptyFileVFS(vfs.get(), file_name, static_cast<int>(xml.size())) == 0, "sim",
             "cannot allocate {} bytes of MJCF in the MuJoCo VFS", xml.size());
  const int index = mj_findFileVFS(vfs.get(), file_name);
  std::memcpy(vfs->filedata[index], xml.data(), xml.size());
  char error[1024] = {0};
  model_ = mj_loadXML(file_name, vfs.get(), error, sizeof(error));
  mj_deleteVFS(vfs.get());
  AVLA_CHECK(model_ != nullptr, "sim", "MuJoCo could not compile the scene: {}", error);
  if (error[0] != '\0') tls_warnings.emplace_back(error);
  AVLA_CHECK(tls_warnings.empty(), "sim", "MuJoCo warned while compiling the scene: {}",
             tls_warnings.front());
  data_ = mj_makeData(model_);
  AVLA_CHECK(data_ != nullptr, "sim", "mj_makeData failed");
  mj_forward(model_, data_);
}

Physics::~Physics() {
  if (data_) mj_deleteData(data_);
  if (model_) mj_deleteModel(model_);
}

static int lookup(const mjModel* m, int type, const std::string& name, const char* what) {
  const int id = mj_name2id(m, type, name.c_str());
  AVLA_CHECK(id >= 0, "sim", "the scene has no {} named '{}'", what, name);
  return id;
}

int Physics::body_id(const std::string& name) const {
  return lookup(model_, mjOBJ_BODY, name, "body");
}
int Physics::joint_id(const std::string& name) const {
  return lookup(model_, mjOBJ_JOINT, name, "joint");
}
int Physics::site_id(const std::string& name) const {
  return lookup(model_, mjOBJ_SITE, name, "site");
}
int Physics::camera_id(const std::string& name) const {
  return lookup(model_, mjOBJ_CAMERA, name, "camera");
}
bool Physics::touches_outside(const std::string& root) const {
  const int tree = body_id(root);
  auto inside = [&](int geom) {
    for (int b = model_->geom_bodyid[geom]; b > 0; b = model_->body_parentid[b]) {
      if (b == tree) return true;
    }
    return false;
  };
  for (int i = 0; i < data_->ncon; ++i) {
    if (inside(data_->contact[i].geom1) != inside(data_->contact[i].geom2)) return true;
  }
  return false;
}

bool Physics::in_contact(const std::string& a, const std::string& b) const {
  const int id_a = body_id(a), id_b = body_id(b);
  for (int i = 0; i < data_->ncon; ++i) {
    const int b1 = model_->geom_bodyid[data_->contact[i].geom1];
    const int b2 = model_->geom_bodyid[data_->contact[i].geom2];
    if ((b1 == id_a && b2 == id_b) || (b1 == id_b && b2 == id_a)) return true;
  }
  return false;
}

Pose Physics::body_pose(const std::string& name) const {
  const int id = body_id(name);
  Pose p;
  for (int i = 0; i < 3; ++i) p.pos[i] = data_->xpos[3 * id + i];
  for (int i = 0; i < 4; ++i) p.quat[i] = data_->xquat[4 * id + i];
  return p;
}

Pose Physics::site_pose(const std::string& name) const {
  const int id = site_id(name);
  Pose p;
  for (int i = 0; i < 3; ++i) p.pos[i] = data_->site_xpos[3 * id + i];
  mju_mat2Quat(p.quat.data(), data_->site_xmat + 9 * id);
  return p;
}

double Physics::joint_qpos(const std::string& name) const {
  return data_->qpos[model_->jnt_qposadr[joint_id(name)]];
}

void Physics::set_joint_qpos(const std::string& name, double value) {
  data_->qpos[model_->jnt_qposadr[joint_id(name)]] = value;
}

void Physics::set_free_pose(const std::string& body, const Pose& pose) {
  const int b = body_id(body);
  const int j = model_->body_jntadr[b];
  AVLA_CHECK(j >= 0 && model_->jnt_type[j] == mjJNT_FREE, "sim", "body '{}' has no free joint",
             body);
  double* q = data_->qpos + model_->jnt_qposadr[j];
  for (int i = 0; i < 3; ++i) q[i] = pose.pos[i];
  for (int i = 0; i < 4; ++i) q[3 + i] = pose.quat[i];
  double* v = data_->qvel + model_->jnt_dofadr[j];
  for (int i = 0; i < 6; ++i) v[i] = 0.0;
}

int Physics::state_size() const {
  return 1 + model_->nq + model_->nv;
}

std::vector<double> Physics::state() const {
  std::vector<double> s(state_size());
  s[0] = data_->time;
  std::memcpy(s.data() + 1, data_->qpos, sizeof(double) * model_->nq);
  std::memcpy(s.data() + 1 + model_->nq, data_->qvel, sizeof(double) * model_->nv);
  return s;
}

void Physics::set_state(const std::vector<double>& s) {
  AVLA_CHECK(static_cast<int>(s.size()) == state_size(), "sim",
             "state has {} numbers, the scene needs {} (time + nq {} + nv {})", s.size(),
             state_size(), model_->nq, model_->nv);
  data_->time = s[0];
  std::memcpy(data_->qpos, s.data() + 1, sizeof(double) * model_->nq);
  std::memcpy(data_->qvel, s.data() + 1 + model_->nq, sizeof(double) * model_->nv);
  mj_forward(model_, data_);
}

void Physics::forward() {
  mj_forward(model_, data_);
}

void Physics::reset() {
  mj_resetData(model_, data_);
  mj_forward(model_, data_);
}

std::vector<std::string> Physics::runtime_warnings() const {
  static const char* names[mjNWARNING] = {"inertia",
                                          "contact buffer full",
                                          "constraint buffer full",
                                          "vertex buffer full",
                                          "bad qpos",
                                          "bad qvel",
                                          "bad qacc",
                                          "bad ctrl"};
  std::vector<std::string> out;
  for (int i = 0; i < mjNWARNING; ++i) {
    if (data_->warning[i].number > 0) {
      out.push_back(std::string(names[i]) + " (x" + std::to_string(data_->warning[i].number) + ")");
    }
  }
  return out;
}

}  // namespace avla::sim
