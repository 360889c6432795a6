// PNG images (8-bit RGB) written atomically through libpng.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace avla {

// rgb: height rows of width * 3 bytes, top row first
void write_png(const std::string& path, const uint8_t* rgb, int width, int height);

// reads an 8-bit RGB PNG (for tests); throws avla::Error("png", ...) naming the file
std::vector<uint8_t> read_png(const std::string& path, int* width, int* height);

}  // namespace avla
