// the network side of `asyncvla serve`: openpi's websocket protocol over Boost.Beast, no policy
// and no torch here. one thread runs the network loop (accepting, reading, pings, writing); one
// worker thread runs the handler on batches of requests, so inference never blocks the loop.
//   GET /healthz            -> 200 "OK\n"
//   websocket upgrade       -> (401 without the api key when one is set) metadata frame, then
//                              strictly one binary request -> one binary reply
//   a request the handler rejects, a text frame or an oversized message
//                           -> one text frame with a one-line error, then close code 1011
// requests from different connections waiting at the same time go to the handler together
// (up to max_batch). stop(): no new connections, requests in flight are answered, idle
// connections are closed (1001), then run() returns.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace avla {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;      // 0: any free port (see WsServer::port())
  std::string api_key;  // non-empty: the handshake must carry "Authorization: Api-Key <key>"
  size_t max_message_bytes = 64 << 20;
  int max_batch = 16;            // requests per handler call
  bool stop_on_signals = false;  // SIGINT / SIGTERM call stop()
};

struct ServerRequest {
  const std::string* bytes = nullptr;  // the request message
  double prev_total_ms =
      -1;  // this connection's previous request: receipt to reply sent (-1: none)
};

struct ServerReply {
  bool ok = true;
  std::string payload;  // ok: the binary reply; else a one-line error for the text frame
};

// answers every request of a batch, in order; must not throw (a throw answers each request with
// a generic error)
using BatchHandler = std::function<std::vector<ServerReply>(const std::vector<ServerRequest>&)>;

struct ServerStats {
  int64_t connections = 0, requests = 0, errors = 0, batches = 0, max_batch_seen = 0;
};

class WsServer {
 public:
  // binds host:port now (throws avla::Error("serve", ...) naming the address when it cannot)
  WsServer(const ServerOptions& options, std::string metadata, BatchHandler handler);
  ~WsServer();
  WsServer(const WsServer&) = delete;
  WsServer& operator=(const WsServer&) = delete;

  int port() const;  // the bound port
  void run();        // serves until stop(); returns after the requests in flight are answered
  void stop();       // from any thread
  ServerStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace avla
