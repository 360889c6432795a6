// the precision a loaded policy's linear layers run in (--precision). no torch here: option
// structs that only carry the setting include this; model/backend.h applies it.
#pragma once

#include <string>

namespace avla {

// the precision our cpu kernels compute the linear layers in at inference. fp32 is exact to the
// model; bf16 rounds the weights (packed once) and each layer's input to bf16 and sums the
// products in fp32 with avx512-bf16's dot instruction, on cpus that have it. training and the
// plain ops always run as asked (fp32, or --bf16's autocast)
enum class Precision { Fp32, Bf16 };
// "fp32" | "bf16" -> the precision; an unknown name, or bf16 on a cpu without avx512-bf16, is an
// error naming --precision
Precision parse_precision(const std::string& name);
const char* precision_name(Precision precision);

}  // namespace avla
