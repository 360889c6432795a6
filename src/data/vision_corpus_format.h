// the tag of a vision corpus file (docs/FORMATS.md): `asyncvla sim corpus` writes it into the
// file's metadata as "format", load_vision_corpus refuses any other. version 2 adds each slot's
// yaw labels (slot_yaw); version 1 files still load, without them. no torch here: the simulator
// includes this.
#pragma once

namespace avla {

constexpr const char* vision_corpus_format = "asyncvla-vision-corpus-2";
constexpr const char* vision_corpus_format_v1 = "asyncvla-vision-corpus-1";  // no slot_yaw

}  // namespace avla
