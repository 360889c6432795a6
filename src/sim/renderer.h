// headless offscreen rendering of MuJoCo cameras through EGL (Mesa surfaceless, no display):
// upright RGB uint8 images, shadows, reflections and multisampling off.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/physics.h"

namespace avla::sim {

class Renderer {
 public:
  // the offscreen buffer is the scene's offwidth x offheight; images of side <= that are rendered
  Renderer(const Physics& physics, int image_size);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  int image_size() const { return image_size_; }
  // renders camera into rgb (image_size * image_size * 3 bytes, row 0 = top of the image)
  void render(const Physics& physics, int camera_id, uint8_t* rgb);
  std::vector<uint8_t> render(const Physics& physics, const std::string& camera);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int image_size_;
};

}  // namespace avla::sim
