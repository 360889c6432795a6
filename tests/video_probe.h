// decodes a whole video file back for tests: frame count, size, and the mean grey level of each
// frame (libavformat + libavcodec, the libraries the writer uses).
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include <stdexcept>
#include <string>
#include <vector>

namespace avla::test {

struct DecodedVideo {
  std::string codec;
  int width = 0, height = 0;
  std::vector<double> frame_luma;  // mean Y of each decoded frame, in decode order
};

// throws std::runtime_error when the file does not open or decode
inline DecodedVideo decode_video(const std::string& path) {
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0)
    throw std::runtime_error("cannot open " + path);
  DecodedVideo out;
  AVCodecContext* dec = nullptr;
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  auto cleanup = [&] {
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
  };
  try {
    if (avformat_find_stream_info(fmt, nullptr) < 0) throw std::runtime_error("no stream info");
    const int stream = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (stream < 0) throw std::runtime_error("no video stream in " + path);
    const AVCodecParameters* par = fmt->streams[stream]->codecpar;
    const AVCodec* codec = avcodec_find_decoder(par->codec_id);
    if (!codec) throw std::runtime_error("no decoder");
    dec = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(dec, par);
    if (avcodec_open2(dec, codec, nullptr) < 0) throw std::runtime_error("cannot open decoder");
    out.codec = codec->name;
    out.width = par->width;
    out.height = par->height;
    // drain every frame the decoder returns (pkt null at the end flushes it)
    auto receive = [&] {
      while (avcodec_receive_frame(dec, frame) == 0) {
        double sum = 0;
        for (int y = 0; y < frame->height; ++y) {
          for (int x = 0; x < frame->width; ++x) sum += frame->data[0][y * frame->linesize[0] + x];
        }
        out.frame_luma.push_back(sum / (frame->width * frame->height));
      }
    };
    while (av_read_frame(fmt, packet) >= 0) {
      if (packet->stream_index == stream) {
        if (avcodec_send_packet(dec, packet) < 0) throw std::runtime_error("decode error");
        receive();
      }
      av_packet_unref(packet);
    }
    avcodec_send_packet(dec, nullptr);
    receive();
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return out;
}

}  // namespace avla::test
