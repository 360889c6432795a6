// simulator speed on one core: control steps per second (IK + physics substeps, with and without
// both cameras rendered) and expert demonstrations per minute, on the spatial suite's first task.
#include <benchmark/benchmark.h>

#include "sim/collect.h"

namespace avla::sim {
namespace {

const Task& bench_task() {
  return suite_tasks("spatial").front();
}

// a fixed, gentle action sequence (a slow circle with the gripper toggling)
std::vector<double> circle_action(int64_t i) {
  const double a = 0.2 * static_cast<double>(i);
  return {0.3 * std::cos(a),
          0.3 * std::sin(a),
          0.1 * std::sin(0.5 * a),
          0,
          0,
          0.05,
          (i / 20) % 2 == 0 ? -1.0 : 1.0};
}

void BM_ControlStep(benchmark::State& state) {
  EnvConfig config;
  config.image_size = static_cast<int>(state.range(0));
  config.render = state.range(0) > 0;
  if (!config.render) config.image_size = 64;
  Env env(config);
  env.reset(bench_task(), 0);
  int64_t i = 0;
  for (auto _ : state) {
    auto r = env.step(circle_action(i++));
    benchmark::DoNotOptimize(r.observation.state.data());
    if (env.steps() >= 200) env.reset(bench_task(), 0);
  }
  state.counters["steps_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
// 0 = physics and IK only; 64 and 128 = both cameras at that resolution
BENCHMARK(BM_ControlStep)->Arg(0)->Arg(64)->Arg(128)->Unit(benchmark::kMillisecond)->MinTime(3.0);

void BM_ExpertDemo(benchmark::State& state) {
  EnvConfig config;
  config.image_size = static_cast<int>(state.range(0));
  Env env(config);
  uint64_t seed = 0;
  int64_t frames = 0;
  for (auto _ : state) {
    auto e = run_expert(env, bench_task(), seed++, true);
    frames += static_cast<int64_t>(e.actions.size());
  }
  state.counters["demos_per_min"] = benchmark::Counter(
      60.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["frames"] = static_cast<double>(frames) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_ExpertDemo)->Arg(128)->Unit(benchmark::kMillisecond)->MinTime(5.0);

}  // namespace
}  // namespace avla::sim

BENCHMARK_MAIN();
