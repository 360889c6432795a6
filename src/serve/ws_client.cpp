#include "serve/ws_client.h"

#include <regex>

#include "serve/beast.h"
#include "util/error.h"

namespace avla {

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  beast::flat_buffer buffer;
};

WsClient::WsClient(const std::string& url, const std::string& api_key)
    : impl_(std::make_unique<Impl>()), url_(url) {
  std::smatch m;
  const std::regex pattern(R"(^ws://([^:/]+):(\d+)(/.*)?$)");
  AVLA_CHECK(std::regex_match(url, m, pattern), "client",
             "server url '{}' must look like ws://HOST:PORT", url);
  const std::string host = m[1], port = m[2], path = m[3].length() ? std::string(m[3]) : "/";
  try {
    tcp::resolver resolver(impl_->ioc);
    net::connect(impl_->ws.next_layer(), resolver.resolve(host, port));
    if (!api_key.empty()) {
      impl_->ws.set_option(websocket::stream_base::decorator([api_key](websocket::request_type& r) {
        r.set(http::field::authorization, "Api-Key " + api_key);
      }));
    }
    websocket::response_type response;
    beast::error_code ec;
    impl_->ws.handshake(response, host + ":" + port, path, ec);
    AVLA_CHECK(ec != websocket::error::upgrade_declined, "client",
               "{} declined the websocket handshake (asyncvla serve does so with HTTP 401 when "
               "the api key is missing or wrong)",
               url);
    AVLA_CHECK(!ec, "client", "websocket handshake with {} failed: {}", url, ec.message());
    impl_->ws.binary(true);
    impl_->ws.read(impl_->buffer);
  } catch (const boost::system::system_error& e) {
    fail("client", "cannot reach {}: {}", url, e.code().message());
  }
  const std::string first = beast::buffers_to_string(impl_->buffer.data());
  impl_->buffer.consume(impl_->buffer.size());
  metadata_ = decode_msg_map(first.data(), first.size(), url + " metadata");
}

WsClient::~WsClient() {
  beast::error_code ignored;
  if (impl_->ws.is_open()) impl_->ws.close(websocket::close_code::normal, ignored);
}

std::string WsClient::request(const std::string& bytes) {
  try {
    impl_->ws.binary(true);
    impl_->ws.write(net::buffer(bytes));
    impl_->ws.read(impl_->buffer);
  } catch (const boost::system::system_error& e) {
    fail("client", "{}: connection failed: {}", url_, e.code().message());
  }
  std::string reply = beast::buffers_to_string(impl_->buffer.data());
  impl_->buffer.consume(impl_->buffer.size());
  AVLA_CHECK(!impl_->ws.got_text(), "client", "{} answered with an error: {}", url_, reply);
  return reply;
}

MsgMap WsClient::request_map(const std::string& bytes) {
  const std::string reply = request(bytes);
  return decode_msg_map(reply.data(), reply.size(), url_ + " reply");
}

}  // namespace avla
