// Delivery of alerts to an operator's endpoint (`coffre serve
// --alert-webhook URL`): each alert is POSTed as its JSON (alert.h) by one
// background thread, so a slow or dead endpoint never delays a request.
//
//   auto hook = AlertWebhook::Start({.url = "https://siem.example.org/coffre"});
//   (*hook)->Enqueue(stored_alert);      // returns at once
//
// - Queue: at most `max_queue` (10,000) alerts; when full, the oldest
//   undelivered one is dropped and counted (stats().dropped). Alerts are
//   stored before they are queued, so nothing dropped here is lost: `GET
//   /v1/alerts` still has it.
// - Order: one at a time, oldest first.
// - Failure (no connection, TLS failure, timeout, a status other than 2xx):
//   the same alert is retried after a back-off that doubles from 1 s to
//   5 min and is reset by a success; an alert still undelivered 24 h after
//   it was queued is given up (stats().given_up).
// - URLs: https://HOST[:PORT][/PATH], the server's certificate checked
//   against the system's CAs or `ca_file`, and its name (or IP address)
//   against the URL; or http:// to a loopback address only (127.0.0.0/8,
//   [::1], localhost), for a local relay.
//
// Thread-safety: Enqueue and stats are safe from any thread; Stop (or the
// destructor) from one. Ownership: owns its thread and transport.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "guard/alert.h"

namespace coffre::guard {

// Sends one POST; OK only for a 2xx answer. Errors name the URL's host and
// the failure, never the body.
class WebhookTransport {
 public:
  virtual ~WebhookTransport() = default;
  [[nodiscard]] virtual Status Post(std::string_view json_body) = 0;
};

struct WebhookUrl {
  bool https = false;
  std::string host;  // without brackets for IPv6
  uint16_t port = 0;
  std::string target;  // "/path?query", "/" by default
};
// Parses and checks the rules above. kInvalidArgument naming the rule.
Result<WebhookUrl> ParseWebhookUrl(std::string_view url);

// The HTTP(S) client (Boost.Beast, webhook_transport.cc). `ca_file` empty:
// the system's CAs. `timeout` bounds each whole attempt.
Result<std::unique_ptr<WebhookTransport>> MakeHttpTransport(const WebhookUrl& url,
                                                            const std::string& ca_file,
                                                            std::chrono::seconds timeout);

struct WebhookOptions {
  std::string url;
  std::string ca_file;  // PEM CA bundle for https (default: the system's)
  size_t max_queue = 10'000;
  int64_t initial_backoff_ms = 1'000;
  int64_t max_backoff_ms = 300'000;
  int64_t give_up_after_ms = 24 * 3600 * 1000LL;
  std::chrono::seconds timeout{10};
  Clock* clock = nullptr;  // nullptr: the system clock
  // Tests: replaces the HTTP(S) client.
  std::unique_ptr<WebhookTransport> transport;
  // Tests: called instead of waiting out a back-off (e.g. to move a fake
  // clock). The real wait ends early on Stop.
  std::function<void(int64_t ms)> wait_for_test;
};

struct WebhookStats {
  uint64_t delivered = 0;
  uint64_t failed_attempts = 0;
  uint64_t dropped = 0;   // queue full: the oldest was dropped
  uint64_t given_up = 0;  // undelivered 24 h after being queued
  size_t queued = 0;
};

class AlertWebhook {
 public:
  static Result<std::unique_ptr<AlertWebhook>> Start(WebhookOptions options);
  ~AlertWebhook();  // Stop()
  AlertWebhook(const AlertWebhook&) = delete;
  AlertWebhook& operator=(const AlertWebhook&) = delete;

  // Queues `alert` (as stored, with its id and time); never blocks on I/O.
  void Enqueue(const Alert& alert);
  // Stops the thread (an attempt in progress ends within its timeout);
  // undelivered alerts stay in the alert log only.
  void Stop();
  WebhookStats stats() const;

 private:
  struct Item {
    uint64_t seq;
    int64_t queued_ms;
    std::string body;
  };
  explicit AlertWebhook(WebhookOptions options);
  void Run();

  WebhookOptions options_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  uint64_t next_seq_ = 0;
  bool stopping_ = false;
  WebhookStats stats_;
  std::thread thread_;
};

}  // namespace coffre::guard
