// mp4 video through Debian's ffmpeg libraries (H.264 when libx264 is there, else MPEG-4 part 2).
// frames stream into a temp file that is renamed over the target on finish(), so an interrupted
// run never leaves a half-written video behind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace avla {

class VideoWriter {
 public:
  // width and height must be even (yuv420p)
  VideoWriter(const std::string& path, int width, int height, int fps);
  ~VideoWriter();  // without finish(): removes the temp file
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // rgb: height rows of width * 3 bytes, top row first
  void add_frame(const uint8_t* rgb);
  void finish();
  int64_t frames() const { return frames_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_, temp_;
  int width_, height_;
  int64_t frames_ = 0;
  bool finished_ = false;
};

}  // namespace avla
