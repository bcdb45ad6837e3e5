#include "app/admin_tls_op.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "crypto/tls_material.h"

namespace coffre::app {
namespace {

namespace json = boost::json;

// A PEM file is small; a chain of a few certificates is a few KiB.
constexpr size_t kMaxPemBytes = 1u << 20;

Result<std::string> ReadDescriptor(int fd, std::string_view what) {
  std::string out;
  // A key fits: no reallocation leaves copies of it in freed memory.
  out.reserve(16u << 10);
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      crypto::Wipe(buf, sizeof buf);
      return Fail(ErrorCode::kIoError,
                  "cannot read the " + std::string(what) + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxPemBytes) {
      crypto::Wipe(buf, sizeof buf);
      crypto::Wipe(out.data(), out.size());
      return Fail(ErrorCode::kInvalidArgument,
                  "the " + std::string(what) + " is larger than 1 MiB: not a PEM file");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  crypto::Wipe(buf, sizeof buf);
  return out;
}

// `path` replaced whole by `text` (mode 0644: the certificate is public).
Status ReplaceFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".new";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(ErrorCode::kIoError, "cannot write " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return Fail(ErrorCode::kIoError, "cannot write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kIoError, "cannot replace " + path);
  }
  return Ok();
}

struct Wiped {
  std::string text;
  ~Wiped() { crypto::Wipe(text.data(), text.size()); }
};

}  // namespace

Result<json::object> SetTlsFromDescriptors(Runtime& rt, const json::object& request,
                                           std::span<const int> fds, audit::Entry& entry) {
  bool with_ca = false;
  if (const json::value* ca = request.if_contains("ca")) {
    if (!ca->is_bool()) return Fail(ErrorCode::kInvalidArgument, "'ca' must be true or false");
    with_ca = ca->get_bool();
  }
  if (fds.size() != (with_ca ? 3u : 2u)) {
    return Fail(ErrorCode::kInvalidArgument,
                "tls.set takes the certificate, the key and, with ca, the trust anchors as "
                "descriptors (coffre tls set opens them)");
  }
  COFFRE_ASSIGN_OR_RETURN(std::string cert, ReadDescriptor(fds[0], "certificate file"));
  Wiped key;
  COFFRE_ASSIGN_OR_RETURN(key.text, ReadDescriptor(fds[1], "key file"));
  std::string ca;
  if (with_ca) {
    COFFRE_ASSIGN_OR_RETURN(ca, ReadDescriptor(fds[2], "--ca file"));
  }

  const int64_t now = rt.clock().NowUnixSeconds();
  const crypto::TlsCheckOptions check{.now = now, .ca_pem = ca};
  COFFRE_ASSIGN_OR_RETURN(auto info, crypto::CheckServerCertificate(cert, key.text, check));

  // For clients (curl --cacert): written aside first, so that a failure
  // here leaves the vault as it was.
  const std::string cert_file = rt.options().dir + "/tls/cert.pem";
  const std::string staged = cert_file + ".staged";
  COFFRE_TRY(ReplaceFile(staged, cert));
  // The key's copy for the batch is wiped too, however the write ends.
  std::vector<std::pair<std::string, std::string>> secrets;
  secrets.emplace_back(crypto::kTlsKeySecret, std::move(key.text));
  struct WipeSecrets {
    std::vector<std::pair<std::string, std::string>>& v;
    ~WipeSecrets() {
      for (auto& [name, value] : v) crypto::Wipe(value.data(), value.size());
    }
  } wipe_secrets{secrets};
  if (Status stored = rt.vault().PutSettings({{std::string(crypto::kTlsCertConfig), cert},
                                              {std::string(crypto::kTlsUserSuppliedConfig), "1"}},
                                             secrets);
      !stored) {
    ::unlink(staged.c_str());
    return Fail(stored.error());
  }
  if (std::rename(staged.c_str(), cert_file.c_str()) != 0) {
    return Fail(ErrorCode::kIoError, "the vault holds the new certificate, but " + cert_file +
                                         " could not be replaced: " + std::strerror(errno));
  }
  entry.reason =
      "fingerprint " + info.fingerprint + ", not after " + crypto::FormatUtc(info.not_after);

  json::object out{{"subject", info.subject},
                   {"fingerprint", info.fingerprint},
                   {"not_before", crypto::FormatUtc(info.not_before)},
                   {"not_after", crypto::FormatUtc(info.not_after)},
                   {"expires_in_days", (info.not_after - now) / 86400},
                   {"chain_certificates", info.certificates},
                   {"cert_file", cert_file},
                   {"served", nullptr}};
  if (info.not_after - now < crypto::kTlsExpiryWarningSeconds) {
    out["warning"] =
        "the certificate expires in less than 30 days, on " + crypto::FormatUtc(info.not_after);
  }
  // A running server presents it from its next handshake on (or keeps
  // serving --tls-cert's files, whose fingerprint it then names).
  Result<std::optional<std::string>> served = rt.ReloadTls();
  if (!served) {
    return Fail(served.error().code,
                "the vault holds the new certificate, but the server could "
                "not load it: " +
                    served.error().message);
  }
  if (*served) out["served"] = **served;
  return out;
}

}  // namespace coffre::app
