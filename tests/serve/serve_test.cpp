// the policy server: openpi's msgpack-numpy codec (also against a python implementation of it),
// the request/reply messages, the websocket server's protocol and behaviour (health check,
// metadata first, errors as a text frame then close 1011, api key, batching, graceful stop), and
// a served policy that answers exactly what the policy answers in process, in evaluation too.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "data/dataset.h"
#include "eval/evaluate.h"
#include "serve/beast.h"
#include "serve/msgpack_numpy.h"
#include "serve/openpi_protocol.h"
#include "serve/policy_service.h"
#include "serve/ws_client.h"
#include "serve/ws_server.h"
#include "test_util.h"
#include "tiny_policy.h"

namespace avla {
namespace {

// a server on a free loopback port, running on its own thread until the object ends
struct RunningServer {
  std::unique_ptr<WsServer> server;
  std::thread thread;
  RunningServer(ServerOptions o, const std::string& metadata, BatchHandler handler) {
    o.port = 0;
    server = std::make_unique<WsServer>(o, metadata, std::move(handler));
    thread = std::thread([this] { server->run(); });
  }
  ~RunningServer() {
    server->stop();
    thread.join();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(server->port()); }
};

// the echo handler: {"bytes": request size, "batch": batch size}; a request "x" is rejected
std::vector<ServerReply> echo(const std::vector<ServerRequest>& requests) {
  std::vector<ServerReply> out;
  for (const ServerRequest& r : requests) {
    if (*r.bytes == "x") {
      out.push_back({false, "[request] x is not a request"});
      continue;
    }
    MsgWriter w;
    w.map(3).key("bytes").i64(static_cast<int64_t>(r.bytes->size()));
    w.key("batch").i64(static_cast<int64_t>(requests.size()));
    w.key("prev_total_ms").f64(r.prev_total_ms);
    out.push_back({true, w.bytes()});
  }
  return out;
}

// a metadata frame (msgpack, as every client decodes it)
std::string meta() {
  ServeMetadata m;
  m.mode = "test";
  m.chunk_len = 10;
  return encode_metadata(m);
}

std::string small_request() {
  MsgWriter w;
  w.map(1).key("prompt").str("hello");
  return w.bytes();
}

// a websocket of our own (not WsClient): to see frames, text flags and close codes as they are
struct RawWs {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  beast::flat_buffer buffer;
  explicit RawWs(int port) {
    tcp::resolver resolver(ioc);
    net::connect(ws.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
    ws.handshake("127.0.0.1", "/");
  }
  std::string read() {
    buffer.consume(buffer.size());
    ws.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }
};

struct HttpReply {
  int status = 0;
  std::string body;
};

// a plain GET; with upgrade, a websocket upgrade request (the server's answer before the
// handshake completes)
HttpReply http_get(int port, const std::string& target, bool upgrade = false) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  tcp::resolver resolver(ioc);
  net::connect(socket, resolver.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (upgrade) {
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    req.set(http::field::sec_websocket_version, "13");
  }
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

TEST(MsgpackNumpy, RoundTripsArraysNumbersStringsAndNestedMaps) {
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f};
  MsgWriter w;
  w.map(6);
  w.key("a").array(make_ndarray("<f4", {2, 3}, values.data(), values.size() * 4));
  w.key("names").list(2).str("sfm").str("async");
  w.key("nested").map(2).key("x").f64(2.5).key("flag").boolean(true);
  w.key("name").str("cube");
  w.key("n").i64(-42);
  w.key("nothing").nil();
  const std::string bytes = w.bytes();
  const MsgMap m = decode_msg_map(bytes.data(), bytes.size(), "test");
  ASSERT_EQ(m.size(), 7u);
  EXPECT_EQ(m.at("names").items, (std::vector<std::string>{"sfm", "async"}));
  const NdArray& a = m.at("a").array;
  EXPECT_EQ(m.at("a").kind, MsgField::Kind::Array);
  EXPECT_EQ(a.dtype, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(a.data.size(), 24u);
  EXPECT_EQ(std::memcmp(a.data.data(), values.data(), 24), 0);
  EXPECT_EQ(m.at("nested/x").f, 2.5);
  EXPECT_TRUE(m.at("nested/flag").b);
  EXPECT_EQ(m.at("name").s, "cube");
  EXPECT_EQ(m.at("n").i, -42);
  EXPECT_EQ(m.at("nothing").kind, MsgField::Kind::Nil);
}

TEST(MsgpackNumpy, MalformedMessagesAreErrorsNamingTheProblem) {
  auto decode = [](const std::string& s) { decode_msg_map(s.data(), s.size(), "the request"); };
  test::expect_error([&] { decode(std::string("\xc1", 1)); }, {"the request", "not valid msgpack"});
  const std::string good = small_request();
  test::expect_error([&] { decode(good.substr(0, good.size() - 2)); }, {"not valid msgpack"});
  test::expect_error([&] { decode(good + "\x01"); }, {"1 bytes after"});
  test::expect_error([&] { decode(std::string("\x92\x01\x02", 3)); }, {"must be a msgpack map"});
  test::expect_error([&] { decode(std::string("\x81\x01\x02", 3)); }, {"a key is int"});
  const float f = 1;
  const NdArray one = make_ndarray("<f4", {1}, &f, 4);
  {
    NdArray wrong = one;
    wrong.shape = {2};  // 4 bytes cannot be 2 floats
    MsgWriter w;
    w.map(1).key("observation/state").array(wrong);
    test::expect_error([&] { decode(w.bytes()); },
                       {"'observation/state'", "4 data bytes", "[2]", "needs 8"});
  }
  {
    NdArray big_endian = one;
    big_endian.dtype = ">f4";
    MsgWriter w;
    w.map(1).key("s").array(big_endian);
    test::expect_error([&] { decode(w.bytes()); }, {"'s'", "unsupported dtype '>f4'"});
  }
  {
    NdArray huge = one;
    huge.shape = {int64_t{1} << 40, int64_t{1} << 40};  // must not overflow into a match
    MsgWriter w;
    w.map(1).key("s").array(huge);
    test::expect_error([&] { decode(w.bytes()); }, {"'s'", "4 data bytes"});
  }
  MsgLimits limits;
  limits.max_elements = 4;
  MsgWriter w;
  w.map(5);
  for (int i = 0; i < 5; ++i) w.key(std::to_string(i)).i64(i);
  const std::string five = w.bytes();
  test::expect_error([&] { decode_msg_map(five.data(), five.size(), "req", limits); },
                     {"req", "not valid msgpack"});
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string run_python(const std::string& args) {
  const std::string cmd = "/usr/bin/python3 " + test::source_dir() +
                          "/tests/reference/openpi_msgpack.py " + args + " 2>&1";
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  char buf[4096];
  while (pipe && std::fgets(buf, sizeof buf, pipe)) out += buf;
  EXPECT_EQ(pipe ? ::pclose(pipe) : -1, 0) << out;
  return out;
}

TEST(MsgpackNumpy, DecodesOpenpisPythonPackingAndPythonDecodesOurReplies) {
  const std::string dir = test::temp_dir("openpi_msgpack");
  // python -> c++: the request of openpi's libero example, with a numpy scalar seed
  run_python("pack-request " + dir + "/request.msgpack");
  const std::string bytes = read_bytes(dir + "/request.msgpack");
  const MsgMap m = decode_msg_map(bytes.data(), bytes.size(), "python request");
  EXPECT_EQ(m.at("observation/image").array.dtype, "|u1");
  EXPECT_EQ(m.at("observation/image").array.shape, (std::vector<int64_t>{224, 224, 3}));
  EXPECT_EQ(m.at("observation/state").array.dtype, "<f8");
  EXPECT_EQ(m.at("prompt").s, "put the red cube on the plate");
  EXPECT_EQ(m.at("seed").kind, MsgField::Kind::Int);
  EXPECT_EQ(m.at("seed").i, 7);
  const PolicyRequest req = parse_policy_request(m, 2);
  EXPECT_NEAR(req.obs.state[2].item<float>(), 1.05f, 1e-6);
  EXPECT_EQ(req.obs.images[1].sizes(), (std::vector<int64_t>{224, 224, 3}));

  // c++ -> python: a reply decodes into real arrays with numpy's dtypes and shapes
  ActResult r;
  r.actions = torch::arange(70, torch::kFloat32).reshape({10, 7}) / 10;
  r.confidence = torch::linspace(0, 0.9, 10);
  r.mask = torch::arange(10) % 3 == 0;
  {
    std::ofstream out(dir + "/reply.msgpack", std::ios::binary);
    out << encode_policy_reply(r, 12.5, 13.0, 40.0);
  }
  const auto j = nlohmann::json::parse(run_python("unpack " + dir + "/reply.msgpack"));
  EXPECT_EQ(j["actions"]["dtype"], "<f4");
  EXPECT_EQ(j["actions"]["shape"], nlohmann::json({10, 7}));
  EXPECT_NEAR(j["actions"]["sum"].get<double>(), 241.5, 1e-3);  // 0.1 * (0 + ... + 69)
  EXPECT_EQ(j["regenerated"]["dtype"], "|b1");
  EXPECT_EQ(j["regenerated"]["sum"].get<double>(), 4.0);  // tokens 0, 3, 6, 9
  EXPECT_NEAR(j["confidence"]["sum"].get<double>(), 4.5, 1e-5);
  EXPECT_EQ(j["policy_timing"]["infer_ms"], 12.5);
  EXPECT_EQ(j["server_timing"]["prev_total_ms"], 40.0);
  std::filesystem::remove_all(dir);
}

TEST(OpenpiProtocol, RequestBecomesTheObservationAndBadOnesNameTheKey) {
  Observation obs;
  obs.images = {torch::randint(0, 256, {20, 30, 3}, torch::kInt64).to(torch::kUInt8),
                torch::randint(0, 256, {8, 8, 3}, torch::kInt64).to(torch::kUInt8)};
  obs.state = torch::tensor({0.1f, 0.2f, 0.3f, 3.0f, 0.0f, 0.1f, 0.04f, -0.04f});
  obs.instruction = "open the drawer";
  const std::string bytes = encode_policy_request(obs, 99);
  const MsgMap m = decode_msg_map(bytes.data(), bytes.size(), "request");
  const PolicyRequest req = parse_policy_request(m, 2);
  EXPECT_TRUE(torch::equal(req.obs.images[0], obs.images[0]));
  EXPECT_TRUE(torch::equal(req.obs.images[1], obs.images[1]));
  EXPECT_TRUE(torch::equal(req.obs.state, obs.state));
  EXPECT_EQ(req.obs.instruction, "open the drawer");
  EXPECT_EQ(*req.seed, 99u);

  // (3, H, W) and float images in [0, 1], as openpi's policies accept them
  MsgMap chw = m;
  const torch::Tensor planar = obs.images[0].permute({2, 0, 1}).contiguous();
  chw["observation/image"].array = make_ndarray("|u1", {3, 20, 30}, planar.data_ptr(), 1800);
  const torch::Tensor unit = obs.images[1].to(torch::kFloat32) / 255;
  chw["observation/wrist_image"].array = make_ndarray("<f4", {8, 8, 3}, unit.data_ptr(), 768);
  const PolicyRequest req2 = parse_policy_request(chw, 2);
  EXPECT_TRUE(torch::equal(req2.obs.images[0], obs.images[0]));
  EXPECT_TRUE(torch::equal(req2.obs.images[1], obs.images[1]));
  // a one-camera checkpoint (Bridge, Fractal data) takes the front camera alone, and needs no
  // wrist image in the request
  MsgMap front_only = m;
  front_only.erase("observation/wrist_image");
  const PolicyRequest one = parse_policy_request(front_only, 1);
  ASSERT_EQ(one.obs.images.size(), 1u);
  EXPECT_TRUE(torch::equal(one.obs.images[0], obs.images[0]));
  // a state-only checkpoint reads no image: none is needed, and sent ones are not decoded
  MsgMap state_only = m;
  state_only.erase("observation/image");
  state_only.erase("observation/wrist_image");
  EXPECT_TRUE(parse_policy_request(state_only, 0).obs.images.empty());
  EXPECT_TRUE(parse_policy_request(m, 0).obs.images.empty());
  EXPECT_TRUE(torch::equal(parse_policy_request(state_only, 0).obs.state, obs.state));
  test::expect_error([&] { parse_policy_request(state_only, 1); }, {"missing 'observation/image'"});
  test::expect_error([&] { parse_policy_request(m, 3); }, {"3 cameras", "0 to 2"});

  auto broken = [&](const std::function<void(MsgMap&)>& edit) {
    MsgMap copy = m;
    edit(copy);
    return copy;
  };
  test::expect_error(
      [&] {
        parse_policy_request(broken([](MsgMap& x) { x.erase("observation/wrist_image"); }), 2);
      },
      {"missing 'observation/wrist_image'"});
  test::expect_error(
      [&] {
        parse_policy_request(broken([](MsgMap& x) {
                               const double v[7] = {};
                               x["observation/state"].array = make_ndarray("<f8", {7}, v, 56);
                             }),
                             2);
      },
      {"'observation/state'", "[7]", "expected [8]"});
  test::expect_error(
      [&] {
        parse_policy_request(broken([](MsgMap& x) {
                               double v[8] = {};
                               v[4] = std::nan("");
                               x["observation/state"].array = make_ndarray("<f8", {8}, v, 64);
                             }),
                             2);
      },
      {"'observation/state'", "NaN"});
  test::expect_error(
      [&] {
        parse_policy_request(broken([](MsgMap& x) { x["prompt"].kind = MsgField::Kind::Int; }), 2);
      },
      {"'prompt' must be a string"});
  test::expect_error(
      [&] {
        parse_policy_request(broken([](MsgMap& x) {
                               const uint8_t v[16] = {};
                               x["observation/image"].array = make_ndarray("|u1", {4, 4}, v, 16);
                             }),
                             2);
      },
      {"'observation/image'", "[4, 4]"});
}

// a reply is checked where it enters, like a request: a chunk with NaN or Inf from a server
// (eval --server) is refused naming the key, and a finite one decodes to the chunk that was sent
TEST(OpenpiProtocol, AReplyWithNaNOrInfActionsIsRefused) {
  ActResult r;
  r.actions = torch::tensor({{0.1f, -0.2f}, {0.3f, 0.4f}, {0.5f, -0.6f}});  // (L 3, A 2)
  r.mask = torch::tensor({false, true, false});
  r.confidence = torch::tensor({0.9f, 0.2f, 0.8f});
  auto decoded = [](const ActResult& sent) {
    const std::string bytes = encode_policy_reply(sent, 1.0, 2.0, -1.0);
    return decode_policy_reply(decode_msg_map(bytes.data(), bytes.size(), "reply"), 2);
  };
  const ActResult back = decoded(r);
  EXPECT_TRUE(torch::equal(back.actions, r.actions));
  EXPECT_TRUE(torch::equal(back.mask, r.mask));
  for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    ActResult broken = r;
    broken.actions = r.actions.clone();
    broken.actions[1][0] = bad;
    test::expect_error([&] { decoded(broken); }, {"[reply]", "'actions' contains NaN or Inf"});
  }
  test::expect_error(
      [&] {
        const std::string bytes = encode_policy_reply(r, 1.0, 2.0, -1.0);
        decode_policy_reply(decode_msg_map(bytes.data(), bytes.size(), "reply"), 7);
      },
      {"[reply]", "'actions' has shape", "expected (L, 7)"});
}

TEST(WsServer, HealthCheckMetadataFirstThenOneReplyPerRequest) {
  RunningServer s({}, meta(), echo);
  const HttpReply health = http_get(s.server->port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "OK\n");
  EXPECT_EQ(http_get(s.server->port(), "/other").status, 404);

  // a raw websocket: the metadata frame comes first, binary
  RawWs raw(s.server->port());
  websocket::stream<tcp::socket>& ws = raw.ws;
  EXPECT_EQ(raw.read(), meta());
  EXPECT_FALSE(ws.got_text());
  ws.binary(true);
  double prev = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string request = small_request();
    ws.write(net::buffer(request));
    const std::string reply = raw.read();
    const MsgMap m = decode_msg_map(reply.data(), reply.size(), "reply");
    EXPECT_EQ(m.at("bytes").i, static_cast<int64_t>(request.size()));
    prev = m.at("prev_total_ms").f;
    // no previous request on the first, then the previous one's total time
    EXPECT_TRUE(i == 0 ? prev == -1.0 : prev >= 0.0) << i << ": " << prev;
  }
  ws.close(websocket::close_code::normal);
}

TEST(WsServer, BadRequestGetsATextFrameThenClose1011AndTheServerGoesOn) {
  ServerOptions o;
  o.max_message_bytes = 1000;
  RunningServer s(o, meta(), echo);
  auto expect_refused = [&](const std::string& message, bool as_text, const std::string& needle) {
    RawWs raw(s.server->port());
    websocket::stream<tcp::socket>& ws = raw.ws;
    raw.read();  // metadata
    ws.text(as_text);
    ws.write(net::buffer(message));
    const std::string text = raw.read();
    EXPECT_TRUE(ws.got_text());
    EXPECT_NE(text.find(needle), std::string::npos) << text;
    EXPECT_EQ(text.find('\n'), std::string::npos) << "one line: " << text;
    beast::error_code ec;
    ws.read(raw.buffer, ec);
    EXPECT_EQ(ec, websocket::error::closed);
    EXPECT_EQ(ws.reason().code, 1011);
  };
  expect_refused("x", false, "x is not a request");
  expect_refused("hello", true, "expected a binary msgpack frame");
  expect_refused(std::string(5000, 'a'), false, "message too large");
  // and a good client is still served
  WsClient client(s.url());
  EXPECT_EQ(client.request_map(small_request()).at("batch").i, 1);
  EXPECT_EQ(s.server->stats().errors, 3);
}

TEST(WsServer, TheNetworkLoopServesOthersWhileTheHandlerComputes) {
  // the handler blocks until the test lets it go: meanwhile health checks are answered, new
  // connections get their metadata and pings get pongs
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> in_handler{false};
  auto blocking = [&](const std::vector<ServerRequest>& r) {
    in_handler = true;
    released.wait();
    return echo(r);
  };
  RunningServer s({}, meta(), blocking);
  WsClient busy(s.url());
  std::thread t([&] { busy.request(small_request()); });
  while (!in_handler) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(http_get(s.server->port(), "/healthz").body, "OK\n");
  WsClient second(s.url());  // handshake and metadata while the worker is held
  EXPECT_EQ(decode_metadata(second.metadata()).mode, "test");
  release.set_value();
  t.join();
  EXPECT_EQ(s.server->stats().requests, 1);
}

TEST(WsServer, ApiKeyIsRequiredWhenSet) {
  ServerOptions o;
  o.api_key = "s3cret";
  RunningServer s(o, meta(), echo);
  test::expect_error([&] { WsClient c(s.url()); }, {"declined the websocket handshake", "api key"});
  test::expect_error([&] { WsClient c(s.url(), "wrong"); }, {"declined"});
  EXPECT_EQ(http_get(s.server->port(), "/", true).status, 401);
  WsClient ok(s.url(), "s3cret");
  EXPECT_EQ(ok.request_map(small_request()).at("batch").i, 1);
  EXPECT_EQ(http_get(s.server->port(), "/healthz").status, 200);  // health needs no key
}

TEST(WsServer, ConcurrentRequestsAreBatchedAndStopAnswersTheOneInFlight) {
  std::vector<int> batch_sizes;
  std::mutex mutex;
  auto slow = [&](const std::vector<ServerRequest>& r) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      batch_sizes.push_back(static_cast<int>(r.size()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return echo(r);
  };
  auto s = std::make_unique<RunningServer>(ServerOptions{}, meta(), slow);
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<WsClient>(s->url()));
  std::vector<int64_t> seen(4, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      // the first occupies the worker; the other three arrive while it computes
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      seen[static_cast<size_t>(i)] =
          clients[static_cast<size_t>(i)]->request_map(small_request()).at("batch").i;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen[0], 1);
  EXPECT_EQ(seen[1], 3);
  EXPECT_EQ(seen[2], 3);
  EXPECT_EQ(seen[3], 3);
  EXPECT_EQ(batch_sizes, (std::vector<int>{1, 3}));

  // stop while a request is in flight: it is answered, then run() returns
  int64_t in_flight = 0;
  std::thread t([&] { in_flight = clients[0]->request_map(small_request()).at("bytes").i; });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  s->server->stop();
  t.join();
  EXPECT_EQ(in_flight, static_cast<int64_t>(small_request().size()));
  s.reset();  // joins run(): every connection, idle or not, was closed
  test::expect_error([&] { clients[1]->request(small_request()); }, {"connection failed"});
}

TEST(PolicyServer, RepliesAreWhatThePolicyAnswersInProcess) {
  const test::TinyRun& run = test::tiny_run();
  ActOptions options;
  options.mode = ActMode::Random;  // afm on a random half: the mask depends on the seed too
  PolicyService service(run.ckpt, options);
  RunningServer s({}, service.metadata(),
                  [&](const std::vector<ServerRequest>& r) { return service.handle(r); });
  WsClient client(s.url());
  const ServeMetadata meta = decode_metadata(client.metadata());
  EXPECT_EQ(meta.mode, "random");
  EXPECT_EQ(meta.step, 300);  // the tiny run's steps
  EXPECT_GT(meta.n_params, 10000);
  const MsgField& modes = client.metadata().at("modes");
  EXPECT_EQ(modes.kind, MsgField::Kind::StrList);
  EXPECT_EQ(modes.items.size(), meta.has_rater ? 3u : 2u);
  EXPECT_EQ(modes.items[0], "sfm");
  EXPECT_EQ(meta.chunk_len, service.policy().config().model.chunk_len);
  EXPECT_EQ(meta.image_size, service.policy().config().model.image_size);

  Policy policy(run.ckpt);
  for (int step : {0, 5}) {
    const Observation obs = test::synthetic_observation(run.data, step);
    const MsgMap reply = client.request_map(encode_policy_request(obs, 1234 + step));
    const ActResult remote = decode_policy_reply(reply, 7);
    options.seed = 1234 + step;
    const ActResult local = policy.act(obs, options);
    EXPECT_TRUE(torch::equal(remote.actions, local.actions.to(torch::kFloat32))) << step;
    EXPECT_TRUE(torch::equal(remote.mask, local.mask)) << step;
    EXPECT_GT(reply.at("server_timing/infer_ms").f, 0.0);
  }
  // a bad request is refused with its reason, and the server keeps serving others
  Observation bad = test::synthetic_observation(run.data, 0);
  bad.state[3] = std::numeric_limits<float>::quiet_NaN();
  test::expect_error([&] { client.request(encode_policy_request(bad, 1)); },
                     {"answered with an error", "observation/state", "NaN"});
  WsClient again(s.url());
  EXPECT_EQ(
      decode_policy_reply(
          again.request_map(encode_policy_request(test::synthetic_observation(run.data, 1), 3)), 7)
          .actions.size(0),
      meta.chunk_len);
}

TEST(PolicyServer, EvaluationThroughTheServerGivesTheInProcessEpisodes) {
  const test::TinyRun& run = test::tiny_run();
  EvalOptions o;
  o.suite = "goal";
  o.tasks = {"open_drawer"};
  o.episodes = 2;
  o.max_steps = 20;
  o.act.mode = ActMode::Random;
  o.ckpt = run.ckpt;
  const EvalReport local = evaluate(o);

  ActOptions options;
  options.mode = ActMode::Random;
  PolicyService service(run.ckpt, options);
  RunningServer s({}, service.metadata(),
                  [&](const std::vector<ServerRequest>& r) { return service.handle(r); });
  o.ckpt.clear();
  o.server = s.url();
  const EvalReport remote = evaluate(o);
  EXPECT_EQ(remote.mode, "random");
  ASSERT_EQ(remote.episodes.size(), local.episodes.size());
  for (size_t i = 0; i < local.episodes.size(); ++i) {
    const EpisodeRecord& a = local.episodes[i];
    const EpisodeRecord& b = remote.episodes[i];
    EXPECT_EQ(a.seed, b.seed);
    EXPECT_EQ(a.steps, b.steps);
    EXPECT_EQ(a.chunks, b.chunks);
    EXPECT_EQ(a.regenerated, b.regenerated);
    EXPECT_EQ(a.action_sum, b.action_sum);  // every executed action, bit for bit
    EXPECT_NE(a.action_sum, 0.0);
  }
  o.server = "ws://127.0.0.1:1";  // nothing listens there
  test::expect_error([&] { evaluate(o); }, {"cannot reach ws://127.0.0.1:1"});
}

TEST(PolicyServer, PythonWebsocketsClientGetsRealArrays) {
  // a third-party client (python websockets + msgpack, as openpi's client) against our server
  const test::TinyRun& run = test::tiny_run();
  ActOptions options;
  options.mode = ActMode::Random;
  PolicyService service(run.ckpt, options);
  RunningServer s({}, service.metadata(),
                  [&](const std::vector<ServerRequest>& r) { return service.handle(r); });
  std::string out;
  FILE* pipe = ::popen(("/usr/bin/python3 " + test::source_dir() + "/bench/serve_bench.py " +
                        s.url() + " --once 2>&1")
                           .c_str(),
                       "r");
  char buf[4096];
  while (pipe && std::fgets(buf, sizeof buf, pipe)) out += buf;
  ASSERT_EQ(pipe ? ::pclose(pipe) : -1, 0) << out;
  const auto j = nlohmann::json::parse(out);
  const int L = service.policy().config().model.chunk_len;
  EXPECT_EQ(j["metadata"]["server"], "asyncvla");
  EXPECT_EQ(j["metadata"]["chunk_len"], L);
  EXPECT_EQ(j["metadata"]["mode"], "random");
  EXPECT_EQ(j["reply"]["actions"]["ndarray"], true);
  EXPECT_EQ(j["reply"]["actions"]["dtype"], "<f4");
  EXPECT_EQ(j["reply"]["actions"]["shape"], nlohmann::json({L, 7}));
  EXPECT_EQ(j["reply"]["regenerated"]["shape"], nlohmann::json({L}));
  EXPECT_GT(j["reply"]["policy_timing"]["infer_ms"].get<double>(), 0.0);
  EXPECT_FALSE(j["reply"]["server_timing"].contains("prev_total_ms"));  // the first request
}

TEST(ImageOrientation, TrainedOnUpsideDownFilesTheModelSeesTheStoredFramesFromUprightClients) {
  // a checkpoint trained on files whose frames are upside down (real LIBERO as stored) records
  // image_rotation 180; openpi's LIBERO client sends upright frames (it rotates LIBERO's renders);
  // the model must see exactly the frames it was trained on
  const std::string data = test::tiny_data_dir();
  const LiberoFile file = read_libero_file(data + "/synthetic_task0.hdf5");
  const LiberoDemo& demo = file.demos[0];
  const int t = 3;
  std::map<int, std::string> ckpt;
  for (int rotation : {0, 180}) {
    TrainOptions opt;
    opt.data = {data};
    opt.config = test::tiny_config();
    opt.config.model.image_rotation = rotation;
    opt.config.train.steps = 2;
    opt.out_dir = test::temp_dir("rotation_" + std::to_string(rotation));
    train(opt);
    ckpt[rotation] = opt.out_dir;
  }
  const Policy upside_down(ckpt[180]);
  EXPECT_EQ(upside_down.config().model.image_rotation, 180);  // saved and loaded
  const int S = upside_down.config().model.image_size;
  const torch::Tensor trained_on =
      torch::stack({resize_images(demo.agentview_rgb[t].unsqueeze(0), S),
                    resize_images(demo.eye_in_hand_rgb[t].unsqueeze(0), S)},
                   1);  // (1, 2, 3, S, S): the stored frames, as the trainer's batches hold them

  // what the client sends: the stored frames turned upright
  Observation upright = demo_observation(demo, t, file.language_instruction, 180);
  EXPECT_TRUE(torch::equal(upright.images[0], demo.agentview_rgb[t].flip({0, 1})));
  const std::string bytes = encode_policy_request(upright, 1);
  const PolicyRequest served =
      parse_policy_request(decode_msg_map(bytes.data(), bytes.size(), "r"), 2);
  EXPECT_TRUE(torch::equal(upside_down.prepare(served.obs).images, trained_on));
  // the same frames through an upright checkpoint are upside down: the rotation does something
  EXPECT_FALSE(torch::equal(Policy(ckpt[0]).prepare(served.obs).images, trained_on));
  // and the metadata says what the checkpoint was trained on
  PolicyService service(ckpt[180], ActOptions{});
  const std::string meta_bytes = service.metadata();
  const ServeMetadata m =
      decode_metadata(decode_msg_map(meta_bytes.data(), meta_bytes.size(), "metadata"));
  EXPECT_EQ(m.image_rotation, 180);
  EXPECT_EQ(m.image_orientation, "upright");
  for (auto& [r, dir] : ckpt) std::filesystem::remove_all(dir);
}

int free_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

TEST(ServeCli, SigtermFinishesAndExitsZero) {
  const test::TinyRun& run = test::tiny_run();
  const int port = free_port();
  const std::string port_arg = std::to_string(port);
  std::vector<std::string> args = {ASYNCVLA_BINARY, "--threads", "1",      "serve",  "--ckpt",
                                   run.ckpt,        "--port",    port_arg, "--mode", "sfm"};
  const pid_t pid = test::spawn_child(args);
  ASSERT_GT(pid, 0);
  test::ChildGuard guard(pid);  // a failed assert below must not leave the server running
  const std::string url = "ws://127.0.0.1:" + port_arg;
  std::unique_ptr<WsClient> client;
  for (int i = 0; i < 300 && !client; ++i) {  // up to 30 s for the checkpoint to load
    try {
      client = std::make_unique<WsClient>(url);
    } catch (const Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ASSERT_TRUE(client) << "the server did not come up on " << url;
  const Observation obs = test::synthetic_observation(run.data, 0);
  EXPECT_EQ(
      decode_policy_reply(client->request_map(encode_policy_request(obs, 1)), 7).actions.size(1),
      7);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  guard.release();
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace avla
