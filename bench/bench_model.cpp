// model speed for the small preset at batch 1 (inference) and 32 (training), fp32 and bf16.
// writes the weights and inputs it used to $ASYNCVLA_BENCH_DIR (default /tmp/asyncvla_bench) so
// bench/reference_bench.py can time PyTorch eager on the same model.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <cstdlib>
#include <optional>

#include "bench_setup.h"
#include "flow/sampler.h"
#include "model/backend.h"
#include "model/fused_layer.h"
#include "model/linear.h"
#include "model/rater.h"
#include "model/simd.h"
#include "model/vla.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace avla {
namespace {

using Setup = BenchSetup;
Setup& setup() {
  const char* env = std::getenv("ASYNCVLA_BENCH_DIR");
  static Setup s(env != nullptr ? env : "/tmp/asyncvla_bench");
  return s;
}

// the benchmark's thread count, or AVLA_BENCH_THREADS where set (profiling on a loaded machine,
// where a two-thread parallel region waits on a busy core)
void set_threads(benchmark::State& state) {
  const char* env = std::getenv("AVLA_BENCH_THREADS");
  torch::set_num_threads(env != nullptr ? std::atoi(env) : static_cast<int>(state.range(0)));
}

// how a timed inference runs: our cpu kernels in fp32 or bf16 (--precision), fp32 on the avx2
// linear kernel alone (what the avx-512 tiles are measured against), our kernels op by op
// without the fused decoder layer (what model/fused_layer is measured against), or LibTorch's
// plain ops (--plain-ops: the path a cuda build runs)
enum class Ops { Fp32, Bf16, Fp32Avx2, Fp32PerOp, Bf16PerOp, Plain };

// the scopes of one timed inference: no autograd, and the ops asked for
struct InferenceScopes {
  c10::InferenceMode inference;
  PrecisionScope precision;
  std::optional<PlainOpsScope> plain;
  bool avx2_only, per_op;
  explicit InferenceScopes(Ops ops)
      : precision(ops == Ops::Bf16 || ops == Ops::Bf16PerOp ? Precision::Bf16 : Precision::Fp32),
        avx2_only(ops == Ops::Fp32Avx2),
        per_op(ops == Ops::Fp32PerOp || ops == Ops::Bf16PerOp) {
    if (ops == Ops::Plain) plain.emplace();
    if (avx2_only) set_linear_avx512(false);
    if (per_op) set_layer_fusion(false);
  }
  ~InferenceScopes() {
    if (avx2_only) set_linear_avx512(true);
    if (per_op) set_layer_fusion(true);
  }
  InferenceScopes(const InferenceScopes&) = delete;
  InferenceScopes& operator=(const InferenceScopes&) = delete;
};

// false (the benchmark marked skipped) when this cpu cannot run ops
bool runnable(benchmark::State& state, Ops ops) {
  if ((ops != Ops::Bf16 && ops != Ops::Bf16PerOp) || cpu_has_avx512_bf16()) return true;
  state.SkipWithError("no avx512-bf16 on this cpu");
  return false;
}

// AVLA_PROFILE_TRACE=PREFIX: `steps` runs of fn after 2 warm ones under LibTorch's profiler,
// written as a chrome trace PREFIX.NAME.json (op self times: bench/profile_ops.py TRACE steps)
template <typename Fn>
void profile_if_asked(const std::string& name, int steps, Fn&& fn) {
  const char* trace = std::getenv("AVLA_PROFILE_TRACE");
  if (trace == nullptr) return;
  for (int i = 0; i < 2; ++i) fn();
  torch::autograd::profiler::RecordProfile guard(std::string(trace) + "." + name + ".json");
  for (int i = 0; i < steps; ++i) fn();
}

void prefix_encode_bench(benchmark::State& state, Ops ops) {
  if (!runnable(state, ops)) return;
  set_threads(state);
  Setup& s = setup();
  const InferenceScopes scopes(ops);
  auto encode = [&] { benchmark::DoNotOptimize(s.model->encode_prefix(s.obs1).prefix_hidden); };
  profile_if_asked(ops == Ops::Bf16 ? "prefix_bf16" : "prefix", 20, encode);
  for (auto _ : state) encode();
}

void step_cached_bench(benchmark::State& state, Ops ops) {
  if (!runnable(state, ops)) return;
  set_threads(state);
  Setup& s = setup();
  const InferenceScopes scopes(ops);
  KvCache cache = s.model->encode_prefix(s.obs1);
  torch::Tensor t = torch::full({1, s.cfg.model.chunk_len}, 0.5);
  for (auto _ : state) benchmark::DoNotOptimize(s.model->velocity(cache, s.noise1, t));
}

// multiply-adds of the linear layers (the flops that count) at batch 1: one prefix pass (vision
// layers, merger, backbone over the prefix) and one cached step (backbone over the chunk, the
// action embedding and head)
struct LinearMacs {
  double prefix = 0, step = 0;
};
LinearMacs linear_macs(const ModelConfig& m) {
  auto layer = [](double rows, double dim, double heads, double kv, double hd, double ff) {
    return rows * (dim * (heads + 2 * kv) * hd + heads * hd * dim + dim * 2 * ff + ff * dim);
  };
  const double v = m.vision_dim, d = m.d_model, grid = m.vision_grid();
  LinearMacs macs;
  macs.prefix = m.vision_layers * layer(m.n_cam * grid * grid, v, m.vision_heads, m.vision_heads,
                                        v / m.vision_heads, m.vision_ff) +
                m.n_cam * m.tokens_per_cam() * (4 * v * 4 * v + 4 * v * d) +
                m.n_layer * layer(m.prefix_len(), d, m.n_head, m.n_kv_head, m.head_dim(), m.d_ff);
  macs.step = m.n_layer * layer(m.chunk_len, d, m.n_head, m.n_kv_head, m.head_dim(), m.d_ff) +
              m.chunk_len * (m.action_dim * d + 3 * d * d + d * m.action_dim);
  return macs;
}

// the full sfm chunk: prefix once, then n_flow_steps cached steps
void sfm_chunk_bench(benchmark::State& state, Ops ops) {
  if (!runnable(state, ops)) return;
  set_threads(state);
  Setup& s = setup();
  const InferenceScopes scopes(ops);
  for (auto _ : state) {
    KvCache cache = s.model->encode_prefix(s.obs1);
    benchmark::DoNotOptimize(sample_sfm(*s.model, cache, s.noise1, s.cfg.model.n_flow_steps));
  }
  const LinearMacs macs = linear_macs(s.cfg.model);
  state.counters["linear_gflops"] =
      benchmark::Counter(2e-9 * (macs.prefix + s.cfg.model.n_flow_steps * macs.step) *
                             static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// the fp32 fma peak of this cpu on the benchmark's threads: a register-only loop of 12
// independent fma chains per thread (what the linears' flops are measured against)
__attribute__((target("avx2,fma"))) float fma_chains(int64_t n) {
  // distinct starts: twelve identical chains would be folded into one by the compiler
  __m256 a0 = _mm256_set1_ps(1e-3f), a1 = _mm256_set1_ps(2e-3f), a2 = _mm256_set1_ps(3e-3f),
         a3 = _mm256_set1_ps(4e-3f), a4 = _mm256_set1_ps(5e-3f), a5 = _mm256_set1_ps(6e-3f),
         a6 = _mm256_set1_ps(7e-3f), a7 = _mm256_set1_ps(8e-3f), a8 = _mm256_set1_ps(9e-3f),
         a9 = _mm256_set1_ps(1e-2f), a10 = _mm256_set1_ps(1.1e-2f), a11 = _mm256_set1_ps(1.2e-2f);
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-4f);
  for (int64_t k = 0; k < n; ++k) {
    a0 = _mm256_fmadd_ps(a0, x, y), a1 = _mm256_fmadd_ps(a1, x, y);
    a2 = _mm256_fmadd_ps(a2, x, y), a3 = _mm256_fmadd_ps(a3, x, y);
    a4 = _mm256_fmadd_ps(a4, x, y), a5 = _mm256_fmadd_ps(a5, x, y);
    a6 = _mm256_fmadd_ps(a6, x, y), a7 = _mm256_fmadd_ps(a7, x, y);
    a8 = _mm256_fmadd_ps(a8, x, y), a9 = _mm256_fmadd_ps(a9, x, y);
    a10 = _mm256_fmadd_ps(a10, x, y), a11 = _mm256_fmadd_ps(a11, x, y);
  }
  const __m256 s =
      _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                  _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7))),
                    _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  return hsum8(s);
}

void BM_FmaPeak(benchmark::State& state) {
  if (!cpu_has_avx2_fma()) {
    state.SkipWithError("no avx2/fma on this cpu");
    return;
  }
  set_threads(state);
  const int threads = torch::get_num_threads();
  const int64_t n = 2000000;
  for (auto _ : state) {
    at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) benchmark::DoNotOptimize(fma_chains(n));
    });
  }
  state.counters["gflops"] =
      benchmark::Counter(2e-9 * 8 * 12 * n * threads * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// alg. 1 at batch 1 as the policy runs it: prefix once, sfm, rater, eq. 3 mask (BenchSetup's
// threshold regenerates about half the tokens), afm on the masked tokens
void async_act_bench(benchmark::State& state, Ops ops) {
  if (!runnable(state, ops)) return;
  set_threads(state);
  Setup& s = setup();
  const InferenceScopes scopes(ops);
  const int n = s.cfg.model.n_flow_steps;
  for (auto _ : state) {
    KvCache cache = s.model->encode_prefix(s.obs1);
    torch::Tensor sfm = sample_sfm(*s.model, cache, s.noise1, n);
    torch::Tensor confidence = s.rater->forward(cache.prefix_hidden, cache.key_bias, sfm);
    torch::Tensor mask = low_confidence_mask(confidence, s.threshold, sfm.size(1));
    benchmark::DoNotOptimize(sample_afm(*s.model, cache, sfm, mask, s.afm_noise1, n));
  }
}

void BM_PrefixEncode(benchmark::State& state) {
  prefix_encode_bench(state, Ops::Fp32);
}
void BM_StepCached(benchmark::State& state) {
  step_cached_bench(state, Ops::Fp32);
}

void BM_StepUncached(benchmark::State& state) {
  set_threads(state);
  Setup& s = setup();
  c10::InferenceMode inference;
  torch::Tensor t = torch::full({1, s.cfg.model.chunk_len}, 0.5);
  for (auto _ : state) benchmark::DoNotOptimize(s.model->velocity_full(s.obs1, s.noise1, t));
}

void BM_SfmChunk(benchmark::State& state) {
  sfm_chunk_bench(state, Ops::Fp32);
}
void BM_SfmChunkPlainOps(benchmark::State& state) {
  sfm_chunk_bench(state, Ops::Plain);
}
void BM_SfmChunkAvx2(benchmark::State& state) {
  sfm_chunk_bench(state, Ops::Fp32Avx2);
}
void BM_SfmChunkPerOp(benchmark::State& state) {
  sfm_chunk_bench(state, Ops::Fp32PerOp);
}
void BM_SfmChunkBf16PerOp(benchmark::State& state) {
  sfm_chunk_bench(state, Ops::Bf16PerOp);
}
void BM_PrefixEncodeAvx2(benchmark::State& state) {
  prefix_encode_bench(state, Ops::Fp32Avx2);
}
void BM_StepCachedAvx2(benchmark::State& state) {
  step_cached_bench(state, Ops::Fp32Avx2);
}
void BM_AsyncAct(benchmark::State& state) {
  async_act_bench(state, Ops::Fp32);
}
void BM_AsyncActBf16(benchmark::State& state) {
  async_act_bench(state, Ops::Bf16);
}
// --precision bf16: the linear layers on bf16 weights and inputs (model/linear.h)
void BM_PrefixEncodeBf16(benchmark::State& state) {
  prefix_encode_bench(state, Ops::Bf16);
}
void BM_StepCachedBf16(benchmark::State& state) {
  step_cached_bench(state, Ops::Bf16);
}
void BM_SfmChunkBf16(benchmark::State& state) {
  sfm_chunk_bench(state, Ops::Bf16);
}

// recipe false: one alg. 2 draw per observation, as the pytorch side does; true: the default
// recipe a real `train` run takes (TrainConfig's flow_draws and sfm_share), the step the
// training loop's samples/s is compared with (bench/train_loop_bench.sh)
void train_step_bench(benchmark::State& state, bool bf16, bool recipe = false) {
  set_threads(state);
  Setup& s = setup();
  TrainConfig tc;
  if (!recipe) {
    tc.flow_draws = 1;
    tc.sfm_share = 0.0;
  }
  tc.bf16 = bf16;
  AdamW opt = bench_optimizer(*s.model, tc);
  at::Generator gen = at::detail::createCPUGenerator(0);
  s.model->train();
  const int64_t B = 32;
  TrainBatch batch{s.obs32, s.actions32, torch::ones({B, s.cfg.model.chunk_len}), {}};
  auto step = [&] { bench_train_step(*s.model, opt, batch, tc, gen); };
  profile_if_asked(std::string(recipe ? "recipe_" : "") + (bf16 ? "bf16" : "fp32"), 4, step);
  for (auto _ : state) step();
  s.model->eval();
  state.counters["samples_per_s"] =
      benchmark::Counter(static_cast<double>(B * state.iterations()), benchmark::Counter::kIsRate);
}

void BM_TrainStep(benchmark::State& state) {
  train_step_bench(state, false);
}
void BM_TrainStepBf16(benchmark::State& state) {
  train_step_bench(state, true);
}
void BM_TrainStepRecipe(benchmark::State& state) {
  train_step_bench(state, false, true);
}
void BM_TrainStepRecipeBf16(benchmark::State& state) {
  train_step_bench(state, true, true);
}

BENCHMARK(BM_FmaPeak)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrefixEncode)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StepCached)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StepUncached)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SfmChunk)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SfmChunkPlainOps)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SfmChunkAvx2)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SfmChunkPerOp)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrefixEncodeAvx2)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StepCachedAvx2)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AsyncAct)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AsyncActBf16)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrefixEncodeBf16)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StepCachedBf16)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SfmChunkBf16)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SfmChunkBf16PerOp)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TrainStep)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_TrainStepBf16)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_TrainStepRecipe)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_TrainStepRecipeBf16)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3.0);

}  // namespace
}  // namespace avla

BENCHMARK_MAIN();
