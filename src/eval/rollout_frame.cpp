#include "eval/rollout_frame.h"

#include <algorithm>

namespace avla {

std::vector<uint8_t> side_by_side(const sim::SimObservation& obs) {
  const int s = obs.image_size;
  const size_t row = static_cast<size_t>(s) * 3;
  std::vector<uint8_t> frame(row * 2 * s, 40);
  const bool wrist = !obs.eye_in_hand_rgb.empty();
  for (int y = 0; y < s; ++y) {
    std::copy_n(obs.agentview_rgb.data() + y * row, row, frame.data() + y * 2 * row);
    if (wrist) {
      std::copy_n(obs.eye_in_hand_rgb.data() + y * row, row, frame.data() + y * 2 * row + row);
    }
  }
  return frame;
}

std::vector<uint8_t> rollout_frame(const sim::SimObservation& obs, const ChunkOverlay& overlay) {
  const int s = obs.image_size, w = 2 * s, h = s + overlay_height;
  std::vector<uint8_t> frame = side_by_side(obs);
  frame.resize(static_cast<size_t>(w) * h * 3, 40);  // dark strip
  const int n = static_cast<int>(overlay.regenerated.size());
  if (n == 0) return frame;
  auto fill = [&](int x0, int y0, int x1, int y1, uint8_t r, uint8_t g, uint8_t b) {
    for (int y = std::max(0, y0); y < std::min(h, y1); ++y) {
      for (int x = std::max(0, x0); x < std::min(w, x1); ++x) {
        uint8_t* p = frame.data() + (static_cast<size_t>(y) * w + x) * 3;
        p[0] = r;
        p[1] = g;
        p[2] = b;
      }
    }
  };
  const int cell = w / n, top = s + 6, bottom = s + overlay_height - 6;
  for (int l = 0; l < n; ++l) {
    const int x0 = l * cell + 2, x1 = (l + 1) * cell - 2;
    uint8_t r = 128, g = 128, b = 128;
    if (!overlay.confidence.empty()) {
      const float c = std::clamp(overlay.confidence[l], 0.0f, 1.0f);
      r = static_cast<uint8_t>(230 * (1.0f - c) + 20);
      g = static_cast<uint8_t>(200 * c + 20);
      b = 30;
    }
    fill(x0, top, x1, bottom, r, g, b);
    if (overlay.regenerated[l]) fill(x0, s + 1, x1, s + 5, 255, 255, 255);
    if (l == overlay.executing) fill(x0, bottom + 1, x1, bottom + 5, 0, 0, 0);
  }
  return frame;
}

}  // namespace avla
