#include "io/image_decode.h"

// clang-format off
#include <cstdio>
#include <csetjmp>
#include <jpeglib.h>
// clang-format on
#include <png.h>

#include <cstring>

#include "util/error.h"

namespace avla {

namespace {

// libjpeg reports a fatal error through error_exit, which must not return: it jumps back to the
// decoder with the library's message
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void jpeg_no_output(j_common_ptr) {}

DecodedImage decode_jpeg(const std::string& bytes, const std::string& where) {
  DecodedImage out;
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.output_message = jpeg_no_output;  // warnings (corrupt but decodable data) stay quiet
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    fail("image", "{}: not a decodable JPEG ({})", where, err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (static_cast<int64_t>(cinfo.image_width) * cinfo.image_height > kMaxDecodedPixels) {
    const auto w = cinfo.image_width, h = cinfo.image_height;
    jpeg_destroy_decompress(&cinfo);
    fail("image", "{}: a JPEG of {}x{} is over the {} pixel limit", where, w, h, kMaxDecodedPixels);
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  out.width = static_cast<int>(cinfo.output_width);
  out.height = static_cast<int>(cinfo.output_height);
  out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.rgb.data() + static_cast<size_t>(cinfo.output_scanline) * out.width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return out;
}

DecodedImage decode_png(const std::string& bytes, const std::string& where) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  AVLA_CHECK(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0, "image",
             "{}: not a decodable PNG ({})", where, image.message);
  if (static_cast<int64_t>(image.width) * image.height > kMaxDecodedPixels) {
    png_image_free(&image);
    fail("image", "{}: a PNG of {}x{} is over the {} pixel limit", where, image.width, image.height,
         kMaxDecodedPixels);
  }
  image.format = PNG_FORMAT_RGB;
  DecodedImage out;
  out.width = static_cast<int>(image.width);
  out.height = static_cast<int>(image.height);
  out.rgb.resize(PNG_IMAGE_SIZE(image));
  const int ok = png_image_finish_read(&image, nullptr, out.rgb.data(), 0, nullptr);
  if (ok == 0) {
    const std::string message = image.message;
    png_image_free(&image);
    fail("image", "{}: not a decodable PNG ({})", where, message);
  }
  return out;
}

}  // namespace

DecodedImage decode_image(const std::string& bytes, const std::string& where) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
    return decode_jpeg(bytes, where);
  }
  if (bytes.size() >= 8 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
    return decode_png(bytes, where);
  }
  fail("image", "{}: {} bytes that are neither a JPEG nor a PNG", where, bytes.size());
}

std::string encode_jpeg(const uint8_t* rgb, int width, int height, int quality) {
  AVLA_CHECK(width > 0 && height > 0, "image", "JPEG size {}x{} must be positive", width, height);
  jpeg_compress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    fail("image", "libjpeg failed to encode a {}x{} image ({})", width, height, err.message);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    auto* row = const_cast<JSAMPROW>(rgb + static_cast<size_t>(cinfo.next_scanline) * width * 3);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string out(reinterpret_cast<const char*>(buffer), size);
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);
  return out;
}

}  // namespace avla
