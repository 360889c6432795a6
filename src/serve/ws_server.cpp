#include "serve/ws_server.h"

#include <algorithm>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "serve/beast.h"
#include "util/error.h"
#include "util/log.h"

namespace avla {

using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

// outside the anonymous namespace: WsServer::Impl holds pointers to it, and Impl has linkage
class WsSession;

// a request waiting for the worker, and where its reply goes
struct Job {
  std::string bytes;
  double prev_total_ms = -1;
  std::function<void(ServerReply)> done;  // posts to the session's strand
  // the loop keeps running until this job's reply is posted back to it
  std::optional<net::executor_work_guard<net::io_context::executor_type>> keep_loop;
};

struct WsServer::Impl : std::enable_shared_from_this<WsServer::Impl> {
  ServerOptions options;
  std::string metadata;
  BatchHandler handler;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::optional<net::signal_set> signals;
  int bound_port = 0;

  // the worker's queue
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Job> queue;
  bool worker_stop = false;
  ServerStats stats;
  // live websocket sessions (closed when the server stops)
  std::vector<std::weak_ptr<WsSession>> sessions;
  bool stopping = false;  // on the loop thread only

  void accept();
  void submit(Job job);
  void worker();
  void stop_on_loop();
};

// one websocket connection: reads requests (keeping a read pending so pings are answered while
// the worker computes), hands them to the worker one at a time, writes the replies in order
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, std::shared_ptr<WsServer::Impl> server)
      : ws_(std::move(socket)), server_(std::move(server)) {}

  void start(http::request<http::string_body> request) {
    request_ = std::move(request);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "asyncvla"); }));
    ws_.read_message_max(0);  // counted by read_some below, so an oversized message gets a reason
    ws_.async_accept(request_,
                     beast::bind_front_handler(&WsSession::on_accept, shared_from_this()));
  }

  // called on the loop when the server stops: idle connections close now, busy ones after reply
  void shutdown() {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      // a peer that does not answer the close frame holds the exit for 2 s at most
      websocket::stream_base::timeout t{};
      t.handshake_timeout = std::chrono::seconds(2);
      t.idle_timeout = websocket::stream_base::none();
      t.keep_alive_pings = false;
      self->ws_.set_option(t);
      if (!self->busy_ && !self->writing_) self->close(websocket::close_code::going_away);
    });
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return;
    ws_.binary(true);
    writing_ = true;
    ws_.async_write(net::buffer(server_->metadata),
                    beast::bind_front_handler(&WsSession::on_write, shared_from_this()));
    read();
  }

  void read() {
    ws_.async_read_some(buffer_.prepare(64 * 1024),
                        beast::bind_front_handler(&WsSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t n) {
    if (ec) return;  // closed by the peer, by us, or broken: the session ends
    buffer_.commit(n);
    if (buffer_.size() > server_->options.max_message_bytes) {
      return fail(fmt::format("message too large: more than {} bytes (the server's limit)",
                              server_->options.max_message_bytes));
    }
    if (!ws_.is_message_done()) return read();
    if (ws_.got_text()) return fail("expected a binary msgpack frame, got a text frame");
    pending_.push_back({beast::buffers_to_string(buffer_.data()), Clock::now()});
    buffer_.consume(buffer_.size());
    next_job();
    read();
  }

  void next_job() {
    if (busy_ || pending_.empty() || failed_) return;
    busy_ = true;
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    received_ = p.received;
    Job job;
    job.bytes = std::move(p.bytes);
    job.prev_total_ms = prev_total_ms_;
    job.keep_loop.emplace(server_->ioc.get_executor());
    job.done = [self = shared_from_this()](ServerReply reply) {
      net::post(self->ws_.get_executor(),
                [self, reply = std::move(reply)]() mutable { self->on_reply(std::move(reply)); });
    };
    server_->submit(std::move(job));
  }

  void on_reply(ServerReply reply) {
    if (!reply.ok) return fail(reply.payload);
    reply_ = std::move(reply.payload);
    writing_ = true;
    ws_.binary(true);
    ws_.async_write(net::buffer(reply_),
                    beast::bind_front_handler(&WsSession::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t) {
    writing_ = false;
    if (ec) return;
    if (busy_) {  // a reply went out (not the metadata)
      busy_ = false;
      prev_total_ms_ = ms_since(received_);
    }
    if (closing_ && pending_.empty()) return close(websocket::close_code::going_away);
    next_job();
  }

  // openpi's way: a text frame with the reason, then close code 1011
  void fail(const std::string& message) {
    if (failed_) return;
    failed_ = true;
    {
      std::lock_guard<std::mutex> lock(server_->mutex);
      ++server_->stats.errors;
    }
    error_ = message;
    ws_.text(true);
    ws_.async_write(net::buffer(error_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->close(websocket::close_code::internal_error);
    });
  }

  void close(websocket::close_code code) {
    if (closed_) return;
    closed_ = true;
    ws_.async_close(code, [self = shared_from_this()](beast::error_code) {});
  }

  struct Pending {
    std::string bytes;
    Clock::time_point received;
  };
  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<WsServer::Impl> server_;
  http::request<http::string_body> request_;  // the upgrade request, alive until accepted
  beast::flat_buffer buffer_;
  std::deque<Pending> pending_;
  std::string reply_, error_;
  Clock::time_point received_;
  double prev_total_ms_ = -1;
  bool busy_ = false, writing_ = false, failed_ = false, closing_ = false, closed_ = false;
};

namespace {

// the first request of a connection: a websocket upgrade or plain http (health check)
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<WsServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {}

  void start() {
    parser_.emplace();
    parser_->body_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

 private:
  void on_read(beast::error_code ec, size_t) {
    if (ec) return;
    http::request<http::string_body> req = parser_->release();
    if (websocket::is_upgrade(req)) {
      const std::string& key = server_->options.api_key;
      if (!key.empty() && std::string(req[http::field::authorization]) != "Api-Key " + key) {
        return respond(req, http::status::unauthorized, "missing or wrong api key\n");
      }
      stream_.expires_never();
      auto session = std::make_shared<WsSession>(stream_.release_socket(), server_);
      {
        std::lock_guard<std::mutex> lock(server_->mutex);
        ++server_->stats.connections;
        auto& live = server_->sessions;
        live.erase(std::remove_if(live.begin(), live.end(), [](auto& w) { return w.expired(); }),
                   live.end());
        live.push_back(session);
      }
      return session->start(std::move(req));
    }
    if (req.method() == http::verb::get && req.target() == "/healthz") {
      return respond(req, http::status::ok, "OK\n");
    }
    respond(req, http::status::not_found, "not found: websocket on /, health check on /healthz\n");
  }

  void respond(const http::request<http::string_body>& req, http::status status,
               const std::string& body) {
    auto res = std::make_shared<http::response<http::string_body>>(status, req.version());
    res->set(http::field::server, "asyncvla");
    res->set(http::field::content_type, "text/plain");
    res->keep_alive(false);
    res->body() = body;
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<WsServer::Impl> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

void WsServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          if (ec) return;  // closed by stop()
                          std::make_shared<HttpSession>(std::move(socket), self)->start();
                          self->accept();
                        });
}

void WsServer::Impl::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    queue.push_back(std::move(job));
  }
  wake.notify_one();
}

void WsServer::Impl::worker() {
  while (true) {
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return worker_stop || !queue.empty(); });
      if (queue.empty()) return;  // stopping and drained
      while (!queue.empty() && static_cast<int>(batch.size()) < options.max_batch) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      stats.requests += static_cast<int64_t>(batch.size());
      stats.batches += 1;
      stats.max_batch_seen = std::max<int64_t>(stats.max_batch_seen, batch.size());
    }
    std::vector<ServerRequest> requests;
    for (const Job& j : batch) requests.push_back({&j.bytes, j.prev_total_ms});
    std::vector<ServerReply> replies;
    try {
      replies = handler(requests);
    } catch (const std::exception& e) {
      log_info("[serve] handler failed: {}", e.what());
    }
    if (replies.size() != batch.size()) {
      replies.assign(batch.size(), ServerReply{false, "internal error while computing the reply"});
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(replies[i]));
  }
}

void WsServer::Impl::stop_on_loop() {
  if (stopping) return;
  stopping = true;
  beast::error_code ignored;
  acceptor.close(ignored);
  if (signals) signals->cancel(ignored);
  std::vector<std::shared_ptr<WsSession>> live;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& weak : sessions)
      if (auto s = weak.lock()) live.push_back(s);
    sessions.clear();
  }
  for (auto& s : live) s->shutdown();
}

WsServer::WsServer(const ServerOptions& options, std::string metadata, BatchHandler handler)
    : impl_(std::make_shared<Impl>()) {
  AVLA_CHECK(options.max_batch >= 1, "serve", "max batch must be >= 1, got {}", options.max_batch);
  impl_->options = options;
  impl_->metadata = std::move(metadata);
  impl_->handler = std::move(handler);
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options.host, ec);
  AVLA_CHECK(!ec, "serve", "--host '{}' is not an IP address ({})", options.host, ec.message());
  AVLA_CHECK(options.port >= 0 && options.port <= 65535, "serve", "--port {} outside [0, 65535]",
             options.port);
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(options.port));
  tcp::acceptor& acc = impl_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  AVLA_CHECK(!ec, "serve", "cannot listen on {}:{}: {}", options.host, options.port, ec.message());
  impl_->bound_port = acc.local_endpoint().port();
}

WsServer::~WsServer() = default;

int WsServer::port() const {
  return impl_->bound_port;
}

void WsServer::run() {
  Impl& s = *impl_;
  if (s.options.stop_on_signals) {
    s.signals.emplace(s.ioc, SIGINT, SIGTERM);
    s.signals->async_wait([impl = impl_](beast::error_code ec, int signal) {
      if (ec) return;
      log_info("[serve] signal {}: finishing the requests in flight, then exiting", signal);
      impl->stop_on_loop();
    });
  }
  s.accept();
  std::thread worker([&s] { s.worker(); });
  s.ioc.run();  // returns when the acceptor and every session are done
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.worker_stop = true;
  }
  s.wake.notify_all();
  worker.join();
}

void WsServer::stop() {
  net::post(impl_->ioc, [impl = impl_] { impl->stop_on_loop(); });
}

ServerStats WsServer::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace avla
