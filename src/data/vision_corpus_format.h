// the tag of a vision corpus file (docs/FORMATS.md): `asyncvla sim corpus` writes it into the
// file's metadata as "format", load_vision_corpus refuses any other. no torch here: the simulator
// includes this.
#pragma once

namespace avla {

constexpr const char* vision_corpus_format = "asyncvla-vision-corpus-1";

}  // namespace avla
