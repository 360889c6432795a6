// encoded images held in memory (the frames of RLDS / TFDS episodes): JPEG through libjpeg(-turbo),
// PNG through libpng, chosen by the bytes' signature. always 8-bit RGB out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace avla {

struct DecodedImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // height rows of width * 3 bytes, top row first
};

// the largest image decoded (width * height): a header claiming more is refused before any
// allocation, so a corrupt size cannot exhaust memory
constexpr int64_t kMaxDecodedPixels = int64_t{8192} * 8192;

// JPEG (FF D8 FF) or PNG (89 'PNG'); anything else, a corrupt stream or an image over
// kMaxDecodedPixels is one avla::Error("image") naming `where`
DecodedImage decode_image(const std::string& bytes, const std::string& where);

// a baseline JPEG of rgb at quality (tests, fuzz seeds)
std::string encode_jpeg(const uint8_t* rgb, int width, int height, int quality);

}  // namespace avla
