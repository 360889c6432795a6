// a blocking client of openpi's websocket protocol (ours or openpi's own server): connect, read
// the metadata frame, then one binary request -> one binary reply at a time. a text frame from
// the server (openpi's way of reporting an error) becomes an avla::Error carrying its text.
#pragma once

#include <memory>
#include <string>

#include "serve/msgpack_numpy.h"

namespace avla {

class WsClient {
 public:
  // url: ws://HOST:PORT[/PATH]; throws avla::Error("client", ...) naming the url when the
  // connection or the handshake fails (a 401 says the api key is missing or wrong)
  explicit WsClient(const std::string& url, const std::string& api_key = "");
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  const MsgMap& metadata() const { return metadata_; }
  // sends one binary message and waits for the reply
  std::string request(const std::string& bytes);
  MsgMap request_map(const std::string& bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string url_;
  MsgMap metadata_;
};

}  // namespace avla
