// the small preset on one device (cpu or cuda), the check a first run on a gpu needs and its
// timings. first it checks that the device computes what the cpu computes from the same weights
// and draws: the sfm chunk (against our cpu kernels and against LibTorch's plain ops on the cpu),
// the async act's confidences and final chunk, and one alg. 2 training step's loss and gradient
// norm. then it times batch-1 inference (prefix, cached step, sfm chunk, async act: sfm, rater,
// afm) and training steps (fp32 and bf16 autocast, batch 32 and 256), synchronizing the device
// around every timed call. prints one json object; bench/device_bench.sh runs it beside
// bench/reference_bench.py on the same weights (docs/GPU.md).
//
// it links only util, io, model, flow and the optimizer, so that it builds against any LibTorch
// (bench/device_build.sh: a CUDA machine's PyTorch) without the simulator's or the datasets'
// packages.
//
// usage: bench_device [--device cpu|cuda[:N]] [--dir DIR] [--seconds S] [--threads N]
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "bench_setup.h"
#include "flow/sampler.h"
#include "flow/unified_loss.h"
#include "model/backend.h"
#include "model/rater.h"
#include "train/optimizer.h"
#include "util/error.h"

// bench/device_build.sh defines AVLA_CUDA_GRAPHS against a LibTorch with CUDA
#if defined(AVLA_CUDA_GRAPHS) && AVLA_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace avla {
namespace {

struct Args {
  std::string device = "cpu";
  std::string dir = "/tmp/asyncvla_bench";
  double seconds = 1.0;  // per timed quantity
  int threads = 0;       // 0: LibTorch's default
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    AVLA_CHECK(i + 1 < argc, "bench_device", "{} needs a value", flag);
    const std::string value = argv[++i];
    if (flag == "--device") {
      a.device = value;
    } else if (flag == "--dir") {
      a.dir = value;
    } else if (flag == "--seconds") {
      a.seconds = std::stod(value);
    } else if (flag == "--threads") {
      a.threads = std::stoi(value);
    } else {
      fail("bench_device", "unknown flag {} (--device, --dir, --seconds, --threads)", flag);
    }
  }
  return a;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// mean milliseconds of fn over at least `seconds` after 3 warm-up calls, the device synchronized
// after each call (batch-1 latency is what a robot waits for)
double time_ms(const std::function<void()>& fn, const torch::Device& device, double seconds) {
  for (int i = 0; i < 3; ++i) fn();
  synchronize(device);
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  int64_t n = 0;
  double elapsed = 0.0;
  while (elapsed < seconds || n < 5) {
    fn();
    synchronize(device);
    ++n;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  }
  return elapsed / static_cast<double>(n) * 1e3;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.cpu().to(torch::kFloat64) - b.cpu().to(torch::kFloat64)).abs().max().item<double>();
}

// alg. 1 as the policy runs it, batch 1: prefix once, sfm, rater, eq. 3 mask, afm on the masked
// tokens; afm_noise is the second round's noise (BenchSetup's threshold regenerates about half)
struct AsyncAct {
  torch::Tensor sfm, confidence, mask, chunk;
};
AsyncAct async_act(VLAImpl& model, ConfidenceRaterImpl& rater, const ObservationBatch& obs,
                   const torch::Tensor& noise, const torch::Tensor& afm_noise, double threshold,
                   int n_steps) {
  AsyncAct r;
  const KvCache cache = model.encode_prefix(obs);
  r.sfm = sample_sfm(model, cache, noise, n_steps);
  r.confidence = rater.forward(cache.prefix_hidden, cache.key_bias, r.sfm);
  r.mask = low_confidence_mask(r.confidence, threshold, r.sfm.size(1));
  r.chunk = sample_afm(model, cache, r.sfm, r.mask, afm_noise, n_steps);
  return r;
}

#if defined(AVLA_CUDA_GRAPHS) && AVLA_CUDA_GRAPHS
// batch-1 inference as one captured cuda graph: fn reads static input tensors, the timed call
// copies fresh inputs into them (copy_in) and replays the graph, which launches every kernel of
// the call at once instead of one by one from the cpu. records the replay's largest difference
// from `expected` (the eager answer on the same inputs) and its milliseconds under name
void time_graph(const std::string& name, const std::function<torch::Tensor()>& fn,
                const std::function<void()>& copy_in, const torch::Tensor& expected,
                const torch::Device& device, double seconds, nlohmann::json& out) {
  try {
    at::cuda::CUDAGraph graph;
    c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool(false, device.index());
    torch::Tensor result;
    {
      c10::cuda::CUDAStreamGuard guard(stream);
      for (int i = 0; i < 3; ++i) fn();  // warm-up off the default stream, as capture needs
      stream.synchronize();
      graph.capture_begin();
      result = fn();
      graph.capture_end();
    }
    copy_in();
    graph.replay();
    synchronize(device);
    out["check"][name + "_graph_vs_eager"] = max_abs_diff(result, expected);
    out[name + "_graph_ms"] = time_ms(
        [&] {
          copy_in();
          graph.replay();
        },
        device, seconds);
  } catch (const std::exception& e) {
    out[name + "_graph_error"] = std::string(e.what()).substr(0, 400);
  }
}
#endif

// one alg. 2 step's loss and gradient norm with the given draws (no optimizer step)
std::pair<double, double> loss_and_grad_norm(VLAImpl& model, const TrainBatch& batch,
                                             const TrainConfig& tc, const FlowDraws& draws) {
  model.zero_grad();
  const TrainLossTerms terms = unified_flow_loss(model, batch, tc, draws);
  torch::Tensor loss = terms.flow.sum / terms.flow.count.clamp_min(1.0);
  loss.backward();
  double sq = 0.0;
  for (const auto& p : model.parameters()) {
    if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
  }
  model.zero_grad();
  return {loss.item<double>(), std::sqrt(sq)};
}

TrainBatch train_batch(const ModelConfig& mc, int64_t B, const torch::Device& device) {
  const ObservationBatch obs = BenchSetup::observation(mc, B);
  return {obs.to(device),
          torch::randn({B, mc.chunk_len, mc.action_dim}).to(device),
          torch::ones({B, mc.chunk_len}).to(device),
          {}};
}

int run(const Args& args) {
  if (args.threads > 0) torch::set_num_threads(args.threads);
  const torch::Device device = parse_device(args.device);
  BenchSetup s(args.dir);
  const ModelConfig& mc = s.cfg.model;
  const int n_steps = mc.n_flow_steps;
  ConfidenceRater& rater = s.rater;
  const torch::Tensor& afm_noise = s.afm_noise1;
  nlohmann::json out;
  out["device"] = device.str();
  out["torch_version"] = TORCH_VERSION;
  out["threads"] = torch::get_num_threads();

  // the cpu's answers first (the weights are still there): our kernels and the plain ops
  TrainConfig tc;
  tc.flow_draws = 1;
  tc.sfm_share = 0.0;
  at::Generator gen = at::detail::createCPUGenerator(0);
  const TrainBatch check_batch{s.obs32, s.actions32, torch::ones({32, mc.chunk_len}), {}};
  const FlowDraws draws = draw_flow(BatchShard::all(32), mc.chunk_len, mc.action_dim, tc, gen);
  torch::Tensor chunk_kernels, chunk_plain;
  AsyncAct act_cpu;
  {
    c10::InferenceMode inference;
    chunk_kernels = sample_sfm(*s.model, s.model->encode_prefix(s.obs1), s.noise1, n_steps);
    PlainOpsScope plain;
    chunk_plain = sample_sfm(*s.model, s.model->encode_prefix(s.obs1), s.noise1, n_steps);
    act_cpu = async_act(*s.model, *rater, s.obs1, s.noise1, afm_noise, s.threshold, n_steps);
  }
  s.model->train();
  const auto [loss_cpu, grad_cpu] = loss_and_grad_norm(*s.model, check_batch, tc, draws);
  s.model->eval();

  // the same on the device (fp32, tf32 off so that the check compares like with like)
  s.model->to(device);
  rater->to(device);
  const ObservationBatch obs1 = s.obs1.to(device);
  const torch::Tensor noise1 = s.noise1.to(device), afm_noise_d = afm_noise.to(device);
  const bool tf32_cudnn = at::globalContext().allowTF32CuDNN();
  at::globalContext().setAllowTF32CuDNN(false);
  {
    c10::InferenceMode inference;
    const torch::Tensor chunk = sample_sfm(*s.model, s.model->encode_prefix(obs1), noise1, n_steps);
    const AsyncAct act =
        async_act(*s.model, *rater, obs1, noise1, afm_noise_d, s.threshold, n_steps);
    out["check"]["sfm_chunk_vs_cpu_kernels"] = max_abs_diff(chunk, chunk_kernels);
    out["check"]["sfm_chunk_vs_cpu_plain_ops"] = max_abs_diff(chunk, chunk_plain);
    out["check"]["confidence_vs_cpu"] = max_abs_diff(act.confidence, act_cpu.confidence);
    out["check"]["mask_equal"] = act.mask.cpu().equal(act_cpu.mask);
    out["check"]["masked_tokens"] = act.mask.sum().item<int64_t>();
    out["check"]["async_chunk_vs_cpu"] = max_abs_diff(act.chunk, act_cpu.chunk);
  }
  s.model->train();
  const auto [loss_dev, grad_dev] = loss_and_grad_norm(
      *s.model, {s.obs32.to(device), s.actions32.to(device), check_batch.valid.to(device), {}}, tc,
      draws.to(device));
  at::globalContext().setAllowTF32CuDNN(tf32_cudnn);
  out["check"]["train_loss_cpu"] = loss_cpu;
  out["check"]["train_loss_device"] = loss_dev;
  out["check"]["train_loss_rel_diff"] = std::abs(loss_dev - loss_cpu) / std::abs(loss_cpu);
  out["check"]["grad_norm_rel_diff"] = std::abs(grad_dev - grad_cpu) / std::abs(grad_cpu);

  // batch-1 inference on the device, fp32 (LibTorch's defaults)
  s.model->eval();
  {
    c10::InferenceMode inference;
    const KvCache cache = s.model->encode_prefix(obs1);
    const torch::Tensor t_half = torch::full({1, mc.chunk_len}, 0.5, noise1.options());
    out["prefix_encode_ms"] = time_ms([&] { s.model->encode_prefix(obs1); }, device, args.seconds);
    out["step_cached_ms"] =
        time_ms([&] { s.model->velocity(cache, noise1, t_half); }, device, args.seconds);
    out["sfm_chunk_ms"] =
        time_ms([&] { sample_sfm(*s.model, s.model->encode_prefix(obs1), noise1, n_steps); },
                device, args.seconds);
    out["async_act_ms"] = time_ms(
        [&] { async_act(*s.model, *rater, obs1, noise1, afm_noise_d, s.threshold, n_steps); },
        device, args.seconds);
  }

#if defined(AVLA_CUDA_GRAPHS) && AVLA_CUDA_GRAPHS
  // the same calls replayed from cuda graphs (static inputs, fresh values copied in per call)
  if (device.is_cuda()) {
    c10::InferenceMode inference;
    ObservationBatch in = obs1;
    in.images = obs1.images.clone();
    in.state = obs1.state.clone();
    const torch::Tensor in_noise = noise1.clone(), in_afm_noise = afm_noise_d.clone();
    auto copy_in = [&] {
      in.images.copy_(obs1.images);
      in.state.copy_(obs1.state);
      in_noise.copy_(noise1);
      in_afm_noise.copy_(afm_noise_d);
    };
    const torch::Tensor sfm_eager =
        sample_sfm(*s.model, s.model->encode_prefix(obs1), noise1, n_steps);
    const torch::Tensor act_eager =
        async_act(*s.model, *rater, obs1, noise1, afm_noise_d, s.threshold, n_steps).chunk;
    time_graph(
        "sfm_chunk",
        [&] { return sample_sfm(*s.model, s.model->encode_prefix(in), in_noise, n_steps); },
        copy_in, sfm_eager, device, args.seconds, out);
    time_graph(
        "async_act",
        [&] {
          return async_act(*s.model, *rater, in, in_noise, in_afm_noise, s.threshold, n_steps)
              .chunk;
        },
        copy_in, act_eager, device, args.seconds, out);
  }
#endif

  // training steps: unified loss, backward, clipping, adamw
  for (const int64_t B : {int64_t{32}, int64_t{256}}) {
    for (const bool bf16 : {false, true}) {
      if (bf16 && device.is_cpu() && B > 32) continue;  // minutes on a cpu, says nothing new
      s.model->train();
      TrainConfig step_tc = tc;
      step_tc.bf16 = bf16;
      AdamW opt = bench_optimizer(*s.model, step_tc);
      const TrainBatch batch = train_batch(mc, B, device);
      auto step = [&] { bench_train_step(*s.model, opt, batch, step_tc, gen); };
      const double ms = time_ms(step, device, 2.0 * args.seconds);
      const std::string key = "train_b" + std::to_string(B) + (bf16 ? "_bf16" : "");
      out[key + "_samples_per_s"] = static_cast<double>(B) * 1000.0 / ms;
    }
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace avla

int main(int argc, char** argv) {
  try {
    return avla::run(avla::parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
