#include "data/state_features.h"

#include <gtest/gtest.h>

#include <cmath>

#include "data/image_augment.h"
#include "test_util.h"

namespace avla {
namespace {

// axis-angle of R = Rz(yaw) * Ry(pi) (the gripper-down pose) followed by a world tilt Rx(tilt),
// computed the way the simulator reports it: angle in [0, pi], so the vector flips near pi
std::array<double, raw_state_dim> down_pose(double yaw, double tilt) {
  // quaternions (w, x, y, z): q = qx(tilt) * qz(yaw) * qy(pi)
  auto mul = [](std::array<double, 4> a, std::array<double, 4> b) {
    return std::array<double, 4>{a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
                                 a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
                                 a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
                                 a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0]};
  };
  const std::array<double, 4> qy{0, 0, 1, 0}, qz{std::cos(yaw / 2), 0, 0, std::sin(yaw / 2)},
      qx{std::cos(tilt / 2), std::sin(tilt / 2), 0, 0};
  auto q = mul(qx, mul(qz, qy));
  if (q[0] < 0) {
    for (double& v : q) v = -v;
  }
  const double s = std::sqrt(q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  const double angle = 2 * std::atan2(s, q[0]);
  return {0.1, -0.2, 0.3, angle * q[1] / s, angle * q[2] / s, angle * q[3] / s, 0.04, -0.04};
}

double distance(const std::array<double, state_feature_dim>& a,
                const std::array<double, state_feature_dim>& b) {
  double d = 0;
  for (int i = 0; i < state_feature_dim; ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(d);
}

TEST(StateFeatures, IdentityAndHalfTurnByHand) {
  const auto f = state_features({1, 2, 3, 0, 0, 0, 0.5, -0.5});
  const std::array<double, state_feature_dim> want = {1, 2, 3, 1, 0, 0, 0, 1, 0, 0.5, -0.5};
  for (int i = 0; i < state_feature_dim; ++i) EXPECT_DOUBLE_EQ(f[i], want[i]) << i;
  // half turn about y (gripper down, yaw 0): R = diag(-1, 1, -1)
  const auto g = state_features({0, 0, 0, 0, M_PI, 0, 0, 0});
  const std::array<double, 6> cols = {-1, 0, 0, 0, 1, 0};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(g[3 + i], cols[i], 1e-12) << i;
}

TEST(StateFeatures, SmallTiltMovesTheFeatureByAboutTheTilt) {
  // the raw axis-angle of the gripper-down pose jumps by ~2 pi under a 0.01 rad tilt
  const auto a = down_pose(0.3, -0.005), b = down_pose(0.3, 0.005);
  double raw_jump = 0;
  for (int i = 3; i < 6; ++i) raw_jump += (a[i] - b[i]) * (a[i] - b[i]);
  EXPECT_GT(std::sqrt(raw_jump), 3.0);
  // the features move by ~0.01 (one column turns by 0.01, the other by 0.01 * |cos(yaw)|)
  const double d = distance(state_features(a), state_features(b));
  EXPECT_GT(d, 0.009);
  EXPECT_LT(d, 0.015);
  // and across yaw = pi (another cut of the axis-angle) too
  EXPECT_LT(distance(state_features(down_pose(M_PI - 0.005, 0)),
                     state_features(down_pose(M_PI + 0.005, 0))),
            0.015);
}

TEST(StateFeatures, TableMatchesRowsAndNamesBadShapes) {
  torch::Tensor raw = torch::tensor({0.1, 0.2, 0.3, 0.4, -1.0, 2.0, 0.01, 0.02, 1.0, 2.0, 3.0, 0.0,
                                     0.0, 0.0, 0.0, 0.0},
                                    torch::kFloat64)
                          .view({2, 8});
  torch::Tensor f = state_features(raw);
  EXPECT_EQ(f.sizes(), torch::IntArrayRef({2, state_feature_dim}));
  EXPECT_EQ(f.scalar_type(), torch::kFloat32);
  const auto row = state_features({0.1, 0.2, 0.3, 0.4, -1.0, 2.0, 0.01, 0.02});
  for (int i = 0; i < state_feature_dim; ++i) EXPECT_FLOAT_EQ(f[0][i].item<float>(), row[i]);
  // rotation columns are unit length and orthogonal
  torch::Tensor c0 = f[0].narrow(0, 3, 3), c1 = f[0].narrow(0, 6, 3);
  EXPECT_NEAR(c0.norm().item<double>(), 1.0, 1e-6);
  EXPECT_NEAR((c0 * c1).sum().item<double>(), 0.0, 1e-6);
  test::expect_error([] { state_features(torch::zeros({3, 7})); }, {"[state]", "[3, 7]", "8"});
}

TEST(StateFeatures, PrivilegedObjectColumnsPassThroughUnchanged) {
  // (2, 3, 8 + 41): robot state, then object positions, their yaw features and the drawer opening
  torch::Tensor robot = torch::tensor({0.1, 0.2, 0.3, 0.4, -1.0, 2.0, 0.01, 0.02}, torch::kFloat64)
                            .expand({2, 3, raw_state_dim});
  torch::Tensor objects = torch::linspace(-1, 1, 2 * 3 * object_state_dim, torch::kFloat64)
                              .view({2, 3, object_state_dim});
  torch::Tensor f = state_features(torch::cat({robot, objects}, -1));
  ASSERT_EQ(f.sizes(), torch::IntArrayRef({2, 3, state_feature_dim + object_state_dim}));
  EXPECT_TRUE(torch::allclose(f.narrow(-1, state_feature_dim, object_state_dim),
                              objects.to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(f.narrow(-1, 0, state_feature_dim), state_features(robot)));
  EXPECT_EQ(privileged_dims(state_feature_dim), 0);
  EXPECT_EQ(privileged_dims(state_feature_dim + object_state_dim), object_state_dim);
  test::expect_error([] { privileged_dims(12); }, {"[state]", "model.state_dim is 12", "11", "52"});
  test::expect_error([] { state_features(torch::zeros({2, 9})); }, {"[state]", "[2, 9]", "49"});
}

TEST(ImageAugment, RandomShiftMovesWholeImagesWithinPad) {
  at::Generator gen = at::detail::createCPUGenerator(5);
  // pixel value = 16 * row + col identifies the source pixel
  torch::Tensor base = (torch::arange(16).view({16, 1}) * 16 + torch::arange(16).view({1, 16}))
                           .to(torch::kUInt8)
                           .view({1, 1, 1, 16, 16})
                           .expand({6, 2, 3, 16, 16})
                           .contiguous();
  EXPECT_TRUE(torch::equal(random_shift(base, 0, gen), base));
  torch::Tensor out = random_shift(base, 3, gen);
  EXPECT_EQ(out.sizes(), base.sizes());
  EXPECT_EQ(out.scalar_type(), torch::kUInt8);
  int shifted = 0;
  for (int64_t i = 0; i < 6; ++i) {
    for (int64_t c = 0; c < 2; ++c) {
      torch::Tensor img = out[i][c][0].to(torch::kInt64);
      // the centre pixel (8, 8) came from (8 + dy, 8 + dx) with |dy|, |dx| <= 3
      const int64_t v = img[8][8].item<int64_t>();
      const int64_t dy = v / 16 - 8, dx = v % 16 - 8;
      EXPECT_LE(std::abs(dy), 3);
      EXPECT_LE(std::abs(dx), 3);
      shifted += dy != 0 || dx != 0;
      // a pure shift: every interior pixel moved by the same (dy, dx); channels agree
      EXPECT_EQ(img[5][6].item<int64_t>(), (5 + dy) * 16 + (6 + dx));
      EXPECT_TRUE(torch::equal(out[i][c][0], out[i][c][2]));
    }
  }
  EXPECT_GT(shifted, 6);  // 12 images, each unshifted with probability 1/49
}

}  // namespace
}  // namespace avla
