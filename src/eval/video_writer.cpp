#include "eval/video_writer.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include <cstdio>

#include "io/atomic_file.h"
#include "util/error.h"

namespace avla {

struct VideoWriter::Impl {
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;

  ~Impl() {
    if (sws) sws_freeContext(sws);
    if (packet) av_packet_free(&packet);
    if (frame) av_frame_free(&frame);
    if (codec) avcodec_free_context(&codec);
    if (format) {
      if (format->pb) avio_closep(&format->pb);
      avformat_free_context(format);
    }
  }

  // sends a frame (or nullptr to flush) and writes every packet the encoder returns
  void encode(AVFrame* f, const std::string& path) {
    AVLA_CHECK(avcodec_send_frame(codec, f) >= 0, "video", "{}: the encoder refused a frame", path);
    while (true) {
      const int ret = avcodec_receive_packet(codec, packet);
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
      AVLA_CHECK(ret >= 0, "video", "{}: encoding failed ({})", path, ret);
      // one frame long: without a duration the mp4 muxer ends the edit list at the last
      // packet's start, and players (and decoders) drop the last frame
      if (packet->duration <= 0) packet->duration = 1;
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      AVLA_CHECK(av_interleaved_write_frame(format, packet) >= 0, "video",
                 "{}: cannot write a packet", path);
    }
  }
};

VideoWriter::VideoWriter(const std::string& path, int width, int height, int fps)
    : impl_(std::make_unique<Impl>()),
      path_(path),
      temp_(atomic_temp_path(path)),
      width_(width),
      height_(height) {
  AVLA_CHECK(width > 0 && height > 0 && width % 2 == 0 && height % 2 == 0, "video",
             "{}: frame size {}x{} must be positive and even", path, width, height);
  AVLA_CHECK(fps > 0, "video", "{}: fps {} must be positive", path, fps);
  av_log_set_level(AV_LOG_ERROR);
  Impl& v = *impl_;
  AVLA_CHECK(avformat_alloc_output_context2(&v.format, nullptr, "mp4", temp_.c_str()) >= 0, "video",
             "{}: no mp4 muxer in this ffmpeg", path);
  const AVCodec* encoder = avcodec_find_encoder_by_name("libx264");
  if (!encoder) encoder = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  AVLA_CHECK(encoder != nullptr, "video", "{}: neither libx264 nor mpeg4 encoders available", path);
  v.stream = avformat_new_stream(v.format, nullptr);
  v.codec = avcodec_alloc_context3(encoder);
  AVLA_CHECK(v.stream && v.codec, "video", "{}: cannot allocate the encoder", path);
  v.codec->width = width;
  v.codec->height = height;
  v.codec->time_base = AVRational{1, fps};
  v.codec->framerate = AVRational{fps, 1};
  v.codec->pix_fmt = AV_PIX_FMT_YUV420P;
  v.codec->gop_size = 2 * fps;
  if (encoder->id == AV_CODEC_ID_MPEG4) v.codec->bit_rate = 2000000;
  if (v.format->oformat->flags & AVFMT_GLOBALHEADER) v.codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* options = nullptr;
  if (encoder->id == AV_CODEC_ID_H264) {
    av_dict_set(&options, "preset", "veryfast", 0);
    av_dict_set(&options, "crf", "20", 0);
  }
  const int opened = avcodec_open2(v.codec, encoder, &options);
  av_dict_free(&options);
  AVLA_CHECK(opened >= 0, "video", "{}: cannot open the {} encoder", path, encoder->name);
  avcodec_parameters_from_context(v.stream->codecpar, v.codec);
  v.stream->time_base = v.codec->time_base;
  AVLA_CHECK(avio_open(&v.format->pb, temp_.c_str(), AVIO_FLAG_WRITE) >= 0, "video",
             "cannot open '{}' for writing", temp_);
  AVLA_CHECK(avformat_write_header(v.format, nullptr) >= 0, "video", "{}: cannot write the header",
             path);
  v.frame = av_frame_alloc();
  v.packet = av_packet_alloc();
  v.frame->format = AV_PIX_FMT_YUV420P;
  v.frame->width = width;
  v.frame->height = height;
  AVLA_CHECK(av_frame_get_buffer(v.frame, 0) >= 0, "video", "{}: cannot allocate a frame", path);
  v.sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P,
                         SWS_BILINEAR, nullptr, nullptr, nullptr);
  AVLA_CHECK(v.sws != nullptr, "video", "{}: cannot create the colour converter", path);
}

VideoWriter::~VideoWriter() {
  const bool remove_temp = !finished_;
  impl_.reset();
  if (remove_temp) std::remove(temp_.c_str());
}

void VideoWriter::add_frame(const uint8_t* rgb) {
  AVLA_CHECK(!finished_, "video", "{}: add_frame after finish", path_);
  Impl& v = *impl_;
  AVLA_CHECK(av_frame_make_writable(v.frame) >= 0, "video", "{}: frame not writable", path_);
  const uint8_t* src[1] = {rgb};
  const int stride[1] = {3 * width_};
  sws_scale(v.sws, src, stride, 0, height_, v.frame->data, v.frame->linesize);
  v.frame->pts = frames_++;
  v.encode(v.frame, path_);
}

void VideoWriter::finish() {
  if (finished_) return;
  Impl& v = *impl_;
  v.encode(nullptr, path_);
  AVLA_CHECK(av_write_trailer(v.format) >= 0, "video", "{}: cannot write the trailer", path_);
  avio_closep(&v.format->pb);
  commit_atomic(temp_, path_);
  finished_ = true;
}

}  // namespace avla
