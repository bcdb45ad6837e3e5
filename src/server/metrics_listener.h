// The metrics listener of `coffre serve --metrics-listen ADDR:PORT`: plain
// HTTP/1.1 on its own socket and thread, apart from the HTTPS API, answering
// `GET /metrics` (and HEAD) with the Prometheus text format; 404 for other
// paths, 405 for other methods, 400 for what does not parse. One request
// per connection (Connection: close), served one at a time: a scrape is a
// few per minute. A client that sends nothing, or reads nothing, is dropped
// after io_timeout, so it holds the listener that long at most.
// docs/adr/0035-listener.md says why it is plain HTTP on loopback.
//
//   auto m = MetricsListener::Start({.address = "127.0.0.1", .port = 9464},
//                                   [&] { return registry.Render(); });
//   ...
//   (*m)->Stop();   // or its destructor
//
// Thread-safety: Start from one thread; Stop from any, once or more.
// Ownership: owns its socket and thread; `render` must outlive Stop().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace coffre::server {

struct MetricsListenerOptions {
  std::string address = "127.0.0.1";  // a literal IPv4 or IPv6 address
  uint16_t port = 9464;               // 0 picks a free port
  std::chrono::milliseconds io_timeout{2000};
};

class MetricsListener {
 public:
  using Render = std::function<std::string()>;
  // Binds and listens (kInvalidArgument for an address that is not a
  // literal, kIoError when it cannot be bound), then serves on its thread.
  static Result<std::unique_ptr<MetricsListener>> Start(const MetricsListenerOptions& options,
                                                        Render render);
  virtual ~MetricsListener() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting, ends the request being served and joins the thread.
  virtual void Stop() = 0;
};

}  // namespace coffre::server
