// asyncvla serve --ckpt DIR [--host H] [--port P] [--mode auto|sfm|random|async]: the policy behind
// openpi's websocket protocol (docs/SERVING.md)
#include <fmt/format.h>

#include "cli/commands.h"
#include "serve/policy_service.h"
#include "serve/ws_server.h"
#include "util/log.h"

namespace avla {

Command add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve", "serve a policy over openpi's websocket protocol (ws://HOST:PORT, GET /healthz)");
  struct Args {
    std::string ckpt;
    ServerOptions server;
    ActFlags act;
    DeviceFlags device;
    double max_message_mib = 64;
    uint64_t seed = 0;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--ckpt", a->ckpt, "checkpoint directory")->required();
  cmd->add_option("--host", a->server.host, "address to listen on (0.0.0.0 exposes it)");
  cmd->add_option("--port", a->server.port, "port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535));
  add_act_flags(cmd, a->act);
  add_device_flags(cmd, a->device, true);
  cmd->add_option("--api-key", a->server.api_key,
                  "require 'Authorization: Api-Key KEY' on the websocket handshake");
  cmd->add_option("--max-message-mib", a->max_message_mib, "largest request accepted (MiB)")
      ->check(CLI::Range(0.001, 4096.0));
  cmd->add_option("--max-batch", a->server.max_batch,
                  "requests of concurrent clients computed as one batched policy call")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--seed", a->seed, "first noise seed for requests that carry none");
  return {cmd, [a]() {
            const ActOptions act = act_options(a->act, a->ckpt);
            a->server.max_message_bytes = static_cast<size_t>(a->max_message_mib * 1024 * 1024);
            a->server.stop_on_signals = true;
            PolicyService service(a->ckpt, act, a->seed, apply_device_flags(a->device),
                                  precision_flag(a->device));
            WsServer server(a->server, service.metadata(),
                            [&service](const std::vector<ServerRequest>& requests) {
                              return service.handle(requests);
                            });
            log_info("[serve] {} | mode {} | ws://{}:{} (health: http://{}:{}/healthz)", a->ckpt,
                     act_mode_name(act.mode), a->server.host, server.port(), a->server.host,
                     server.port());
            server.run();
            const ServerStats s = server.stats();
            log_info(
                "[serve] stopped: {} connections, {} requests in {} batches (largest {}), {} "
                "errors",
                s.connections, s.requests, s.batches, s.max_batch_seen, s.errors);
            return 0;
          }};
}

}  // namespace avla
