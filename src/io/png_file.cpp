#include "io/png_file.h"

#include <png.h>

#include <cstdio>
#include <memory>

#include "io/atomic_file.h"
#include "util/error.h"

namespace avla {

namespace {
struct FileCloser {
  void operator()(FILE* f) const {
    if (f) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;
}  // namespace

void write_png(const std::string& path, const uint8_t* rgb, int width, int height) {
  AVLA_CHECK(width > 0 && height > 0, "png", "{}: image size {}x{} must be positive", path, width,
             height);
  write_atomic_with(path, [&](const std::string& temp) {
    FilePtr file(std::fopen(temp.c_str(), "wb"));
    AVLA_CHECK(file != nullptr, "png", "cannot open '{}' for writing", temp);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    AVLA_CHECK(png && info, "png", "libpng could not allocate a writer for '{}'", path);
    if (setjmp(png_jmpbuf(png))) {
      png_destroy_write_struct(&png, &info);
      fail("png", "libpng failed while writing '{}'", path);
    }
    png_init_io(png, file.get());
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; ++y) {
      png_write_row(png, const_cast<png_bytep>(rgb + static_cast<size_t>(y) * width * 3));
    }
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
  });
}

std::vector<uint8_t> read_png(const std::string& path, int* width, int* height) {
  FilePtr file(std::fopen(path.c_str(), "rb"));
  AVLA_CHECK(file != nullptr, "png", "cannot open '{}'", path);
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  AVLA_CHECK(png && info, "png", "libpng could not allocate a reader for '{}'", path);
  std::vector<uint8_t> out;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    fail("png", "'{}' is not a readable PNG", path);
  }
  png_init_io(png, file.get());
  png_read_info(png, info);
  const int w = static_cast<int>(png_get_image_width(png, info));
  const int h = static_cast<int>(png_get_image_height(png, info));
  const int type = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (type != PNG_COLOR_TYPE_RGB || depth != 8) {
    png_destroy_read_struct(&png, &info, nullptr);
    fail("png", "'{}' is not 8-bit RGB (colour type {}, depth {})", path, type, depth);
  }
  out.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    png_read_row(png, out.data() + static_cast<size_t>(y) * w * 3, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  *width = w;
  *height = h;
  return out;
}

}  // namespace avla
