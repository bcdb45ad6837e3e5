// Connection slots of the HTTPS server: a total cap, a cap per source and a
// cap on connections that have not finished their TLS handshake, which
// sources known to complete handshakes may pass (ADR 0019).
//
//   Admission admission({.max_connections = 4096, .per_source = 256, .max_pending = 2048});
//   auto slot = admission.Admit("192.0.2.1", /*exempt=*/false);
//   if (!slot) close();               // over a cap
//   admission.HandshakeDone(*slot);   // no longer pending; the source is known
//   admission.Release(*slot);         // when the connection closes
//
// Thread-safe (one mutex; a few map operations per connection).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace coffre::server {

class Admission {
 public:
  struct Limits {
    size_t max_connections = 4096;
    size_t per_source = 256;    // 0: none
    size_t max_pending = 2048;  // before the handshake ends, from sources not known
  };
  // A connection's hold on its slots. Exempt slots (a trusted proxy's own
  // connections) are not counted per source until re-keyed to a client.
  struct Slot {
    std::string key;
    bool exempt = false;
    bool pending = true;
    bool known = false;  // admitted past the pending cap
  };

  explicit Admission(Limits limits) : limits_(limits) {}

  // nullopt when the connection must be refused.
  std::optional<Slot> Admit(const std::string& key, bool exempt);
  void HandshakeDone(Slot& slot);
  // Counts the connection under `key` from now on (the client behind a
  // proxy); false, leaving `slot` as it was, if `key` is at its cap.
  bool Rekey(Slot& slot, const std::string& key);
  void Release(const Slot& slot);

  size_t connections() const;

 private:
  bool IsKnownLocked(const std::string& key, std::chrono::steady_clock::time_point now);

  const Limits limits_;
  mutable std::mutex mu_;
  size_t total_ = 0;
  size_t pending_ = 0;  // pending slots admitted under the pending cap
  std::unordered_map<std::string, size_t> per_source_;
  // Sources that completed a handshake recently (bounded).
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> known_;
};

}  // namespace coffre::server
