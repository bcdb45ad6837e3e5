#include "guard/alert_webhook.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <string>

namespace coffre::guard {
namespace {

// A literal loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) or
// the name localhost (RFC 6761: it resolves to loopback; the transport
// connects to loopback addresses only for plain http). The host is parsed
// as an address: a name that merely starts with "127." is no address.
bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

bool HostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == ':';
}

}  // namespace

Result<WebhookUrl> ParseWebhookUrl(std::string_view url) {
  auto bad = [](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument, "--alert-webhook: " + std::string(why));
  };
  WebhookUrl out;
  std::string_view rest;
  if (url.rfind("https://", 0) == 0) {
    out.https = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return bad("the URL must start with https:// (or http:// to a loopback address)");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return bad("the URL has spaces or characters outside printable ASCII");
    }
  }
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.target.front() == '?') out.target.insert(0, "/");
  if (out.target.find('#') != std::string::npos) return bad("the URL may not have a fragment");
  if (authority.find('@') != std::string_view::npos)
    return bad("the URL may not carry credentials");
  std::string_view host = authority;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return bad("unclosed [ in the host");
    std::string_view after = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("expected :PORT after the IPv6 address");
      port = after.substr(1);
    }
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (host.empty() || !std::all_of(host.begin(), host.end(), HostChar))
    return bad("the URL has no valid host");
  out.host = std::string(host);
  out.port = out.https ? 443 : 80;
  if (!port.empty() || authority.ends_with(":")) {
    uint32_t p = 0;
    if (port.empty() || port.size() > 5) return bad("bad port");
    for (char c : port) {
      if (c < '0' || c > '9') return bad("bad port");
      p = p * 10 + static_cast<uint32_t>(c - '0');
    }
    if (p == 0 || p > 65535) return bad("bad port");
    out.port = static_cast<uint16_t>(p);
  }
  if (!out.https && !IsLoopbackHost(out.host)) {
    return bad(
        "plain http is allowed to a loopback address only (alerts name principals); use https");
  }
  return out;
}

Result<std::unique_ptr<AlertWebhook>> AlertWebhook::Start(WebhookOptions options) {
  if (options.max_queue == 0 || options.initial_backoff_ms <= 0 ||
      options.max_backoff_ms < options.initial_backoff_ms) {
    return Fail(ErrorCode::kInvalidArgument, "webhook options out of range");
  }
  if (!options.transport) {
    COFFRE_ASSIGN_OR_RETURN(WebhookUrl url, ParseWebhookUrl(options.url));
    COFFRE_ASSIGN_OR_RETURN(options.transport,
                            MakeHttpTransport(url, options.ca_file, options.timeout));
  }
  std::unique_ptr<AlertWebhook> hook(new AlertWebhook(std::move(options)));
  hook->thread_ = std::thread([h = hook.get()] { h->Run(); });
  return hook;
}

AlertWebhook::AlertWebhook(WebhookOptions options)
    : options_(std::move(options)), clock_(options_.clock ? *options_.clock : DefaultClock()) {}

AlertWebhook::~AlertWebhook() { Stop(); }

void AlertWebhook::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AlertWebhook::Enqueue(const Alert& alert) {
  std::string body = AlertToJson(alert);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (queue_.size() >= options_.max_queue) {
      queue_.pop_front();
      ++stats_.dropped;
    }
    queue_.push_back({next_seq_++, clock_.NowUnixMillis(), std::move(body)});
  }
  cv_.notify_one();
}

WebhookStats AlertWebhook::stats() const {
  std::lock_guard lock(mu_);
  WebhookStats s = stats_;
  s.queued = queue_.size();
  return s;
}

void AlertWebhook::Run() {
  int64_t backoff_ms = options_.initial_backoff_ms;
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Item& head = queue_.front();
    if (clock_.NowUnixMillis() - head.queued_ms >= options_.give_up_after_ms) {
      queue_.pop_front();
      ++stats_.given_up;
      continue;
    }
    const uint64_t seq = head.seq;
    const std::string body = head.body;
    lock.unlock();
    Status sent = options_.transport->Post(body);
    lock.lock();
    // The queue may have dropped the head meanwhile (full): pop it only if
    // it is still there.
    auto done = [&] {
      if (!queue_.empty() && queue_.front().seq == seq) queue_.pop_front();
    };
    if (sent) {
      ++stats_.delivered;
      done();
      backoff_ms = options_.initial_backoff_ms;
      continue;
    }
    ++stats_.failed_attempts;
    const int64_t wait = backoff_ms;
    backoff_ms = std::min(backoff_ms * 2, options_.max_backoff_ms);
    if (options_.wait_for_test) {
      lock.unlock();
      options_.wait_for_test(wait);
      lock.lock();
    } else {
      cv_.wait_for(lock, std::chrono::milliseconds(wait), [&] { return stopping_; });
    }
  }
}

}  // namespace coffre::guard
