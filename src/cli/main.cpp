// asyncvla: one binary, git-style subcommands. errors print one line and exit non-zero.
#include <torch/torch.h>

#include <iostream>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "io/child_read.h"
#include "util/error.h"

namespace avla {
namespace {
std::vector<std::string> g_command_line;
}  // namespace
const std::vector<std::string>& command_line() {
  return g_command_line;
}
}  // namespace avla

int main(int argc, char** argv) {
  // started as the reading child of another asyncvla process (io/child_read.h): read, then exit
  avla::serve_child_read_if_asked();
  avla::g_command_line.assign(argv, argv + argc);
  CLI::App app{"asyncvla: AsyncVLA policies (flow matching + self-correction) in C++"};
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);
  app.option_defaults()->always_capture_default();
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--threads", threads, "CPU threads for tensor math (default: all cores)")
      ->check(CLI::PositiveNumber);

  const std::vector<avla::Command> commands = {
      avla::add_train_command(app),       avla::add_infer_command(app),
      avla::add_synth_command(app),       avla::add_sim_command(app),
      avla::add_train_rater_command(app), avla::add_eval_command(app),
      avla::add_eval_rater_command(app),  avla::add_compare_command(app),
      avla::add_serve_command(app),       avla::add_pretrain_vision_command(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  torch::set_num_threads(threads);
  try {
    for (const auto& command : commands) {
      if (command.sub->parsed()) return command.run();
    }
    std::cerr << app.help();
    return 2;
  } catch (const avla::Error& e) {
    std::cerr << "error: " << e.what() << "\n"
              << "hint: run with --help for usage; see docs/FORMATS.md for file layouts\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: [torch] " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
