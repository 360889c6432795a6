// tf.train.Example (io/tf_example.h) and in-memory images (io/image_decode.h): our encoding is
// read back exactly, known bytes of TensorFlow's wire format parse to their values, and broken
// input is one error naming where it came from.
#include "io/tf_example.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/image_decode.h"
#include "io/png_file.h"
#include "test_util.h"

namespace avla {
namespace {

TEST(TfExample, OurEncodingReadsBackExactly) {
  Example ex;
  ex["steps/action"] = {ExampleFeature::Kind::Float, {}, {0.5f, -1.25f, 3e-7f}, {}};
  ex["steps/is_first"] = {ExampleFeature::Kind::Int64, {}, {}, {1, 0, -7, int64_t{1} << 40}};
  ex["steps/image"] = {ExampleFeature::Kind::Bytes, {std::string("\0\xff", 2), "", "abc"}, {}, {}};
  ex["empty"] = {ExampleFeature::Kind::Bytes, {}, {}, {}};
  const Example back = parse_example(encode_example(ex), "test");
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(back.at("steps/action").floats, ex["steps/action"].floats);
  EXPECT_EQ(back.at("steps/is_first").ints, ex["steps/is_first"].ints);
  EXPECT_EQ(back.at("steps/image").bytes, ex["steps/image"].bytes);
  EXPECT_EQ(back.at("empty").kind, ExampleFeature::Kind::Bytes);
  EXPECT_EQ(back.at("empty").size(), 0u);
  // deterministic: the same example, the same bytes
  EXPECT_EQ(encode_example(ex), encode_example(back));
}

TEST(TfExample, TensorFlowsWireBytesParseToTheirValues) {
  // Example{features{feature{key:"a" value{int64_list{value:[1,2]}}}}}, written out by hand from
  // the wire format: field 1 (Features) > field 1 (map entry: key 1, value 2) > Feature field 3
  // (Int64List) > field 1 packed varints
  const std::string int_record(
      "\x0a\x0f\x0a\x0d\x0a\x01"
      "a"
      "\x12\x08\x1a\x06\x0a\x04\x01\x02\x03\x04",
      17);
  const Example ex = parse_example(int_record, "by hand");
  ASSERT_EQ(ex.count("a"), 1u);
  EXPECT_EQ(ex.at("a").kind, ExampleFeature::Kind::Int64);
  EXPECT_EQ(ex.at("a").ints, (std::vector<int64_t>{1, 2, 3, 4}));
  // a float list (Feature field 2), packed fixed32 1.0f
  const std::string float_record(
      "\x0a\x0f\x0a\x0d\x0a\x01"
      "b"
      "\x12\x08\x12\x06\x0a\x04\x00\x00\x80\x3f",
      17);
  const Example fx = parse_example(float_record, "by hand");
  EXPECT_EQ(fx.at("b").kind, ExampleFeature::Kind::Float);
  EXPECT_EQ(fx.at("b").floats, std::vector<float>{1.0f});
}

TEST(TfExample, BrokenBytesAndMissingFeaturesAreClearErrors) {
  test::expect_error(
      [] { parse_example(std::string("\x0a\xff\xff\xff\x0f", 5), "shard-0: record 3"); },
      {"tf.Example", "shard-0: record 3", "not a serialized tf.train.Example"});
  Example ex;
  ex["x"] = {ExampleFeature::Kind::Float, {}, {1.0f}, {}};
  test::expect_error([&] { example_feature(ex, "y", ExampleFeature::Kind::Float, "rec 1"); },
                     {"rec 1", "no feature 'y'", "it has: x"});
  test::expect_error([&] { example_feature(ex, "x", ExampleFeature::Kind::Int64, "rec 1"); },
                     {"'x' is a float_list, expected a int64_list"});
}

TEST(ImageDecode, JpegAndPngDecodeToTheirPixels) {
  // a smooth gradient: a JPEG at quality 95 stays within a few levels of it
  const int W = 24, H = 16;
  std::vector<uint8_t> rgb(W * H * 3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c)
        rgb[(y * W + x) * 3 + c] = static_cast<uint8_t>(6 * x + 3 * y + 30 * c);
  const DecodedImage img = decode_image(encode_jpeg(rgb.data(), W, H, 95), "gradient");
  ASSERT_EQ(img.width, W);
  ASSERT_EQ(img.height, H);
  int worst = 0;
  for (size_t i = 0; i < rgb.size(); ++i) worst = std::max(worst, std::abs(img.rgb[i] - rgb[i]));
  EXPECT_LE(worst, 12);
  EXPECT_GT(worst, 0);  // a lossy codec really ran
  // a PNG (our writer) decodes exactly
  const std::string dir = test::temp_dir("image_decode");
  write_png(dir + "/g.png", rgb.data(), W, H);
  const DecodedImage png = decode_image(read_file(dir + "/g.png"), "g.png");
  EXPECT_EQ(png.width, W);
  EXPECT_EQ(png.rgb, rgb);
}

TEST(ImageDecode, BrokenImagesAreOneErrorNamingWhere) {
  const std::vector<uint8_t> rgb(8 * 8 * 3, 128);
  const std::string jpeg = encode_jpeg(rgb.data(), 8, 8, 90);
  test::expect_error([&] { decode_image(jpeg.substr(0, jpeg.size() / 3), "ep 2 step 5"); },
                     {"[image]", "ep 2 step 5", "JPEG"});
  test::expect_error([] { decode_image("GIF89a....", "ep 0 step 1"); },
                     {"ep 0 step 1", "neither a JPEG nor a PNG"});
  test::expect_error([] { decode_image(std::string("\x89PNG\r\n\x1a\nxxxx", 12), "p"); },
                     {"p", "not a decodable PNG"});
}

}  // namespace
}  // namespace avla
