#include "server/served_tls.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/log.h"
#include "crypto/crypto.h"

namespace coffre::server {
namespace {

std::atomic<int64_t> served_not_after{0};

constexpr size_t kMaxPemBytes = 1u << 20;

Result<std::string> ReadPemFile(const std::string& path, std::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(flag) + ": cannot open " + path + ": " + std::strerror(errno));
  }
  std::string text(kMaxPemBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) return Fail(ErrorCode::kIoError, std::string(flag) + ": cannot read " + path);
  if (text.size() > kMaxPemBytes) {
    crypto::Wipe(text.data(), text.size());
    return Fail(ErrorCode::kInvalidArgument,
                std::string(flag) + ": " + path + " is larger than 1 MiB: not a PEM file");
  }
  return text;
}

}  // namespace

LoadedTls::LoadedTls(LoadedTls&& o) noexcept
    : material(std::move(o.material)), info(std::move(o.info)), user_supplied(o.user_supplied) {}

LoadedTls::~LoadedTls() { crypto::Wipe(material.key_pem.data(), material.key_pem.size()); }

ServedTls::ServedTls(vault::Vault* vault, TlsSourceOptions options)
    : vault_(vault), options_(std::move(options)) {}

Result<LoadedTls> ServedTls::Read(int64_t now) {
  LoadedTls t;
  if (from_files()) {
    COFFRE_ASSIGN_OR_RETURN(t.material.cert_pem, ReadPemFile(options_.cert_path, "--tls-cert"));
    COFFRE_ASSIGN_OR_RETURN(t.material.key_pem, ReadPemFile(options_.key_path, "--tls-key"));
    t.user_supplied = true;
  } else {
    vault::Vault* v = vault_.load(std::memory_order_acquire);
    if (v == nullptr) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the vault is sealed: its certificate is read again once it is unsealed");
    }
    COFFRE_ASSIGN_OR_RETURN(auto cert, v->GetConfig(crypto::kTlsCertConfig));
    COFFRE_ASSIGN_OR_RETURN(auto key, v->GetSecret(crypto::kTlsKeySecret));
    if (!cert || !key) {
      if (key) crypto::Wipe(key->data(), key->size());
      return Fail(ErrorCode::kFailedPrecondition,
                  "the vault has no TLS certificate (made by coffre init); it cannot serve");
    }
    t.material.cert_pem = std::move(*cert);
    t.material.key_pem = std::move(*key);
    COFFRE_ASSIGN_OR_RETURN(auto supplied, v->GetConfig(crypto::kTlsUserSuppliedConfig));
    t.user_supplied = supplied && *supplied == "1";
  }
  COFFRE_TRY(crypto::CheckPair(t.material.cert_pem, t.material.key_pem));
  COFFRE_ASSIGN_OR_RETURN(t.info, crypto::InspectCertificate(t.material.cert_pem));
  const std::string where = from_files() ? options_.cert_path : "the vault";
  if (now >= t.info.not_after) {
    log::Error("tls.expired", "the TLS certificate of " + where + " expired on " +
                                  crypto::FormatUtc(t.info.not_after) + "; clients will refuse it");
  } else if (now < t.info.not_before) {
    log::Error("tls.not_yet_valid", "the TLS certificate of " + where + " is not valid before " +
                                        crypto::FormatUtc(t.info.not_before));
  } else if (t.user_supplied) {
    auto checked = crypto::CheckServerCertificate(t.material.cert_pem, t.material.key_pem,
                                                  {.now = now, .require_chain = false});
    if (checked && !checked->chain_problem.empty()) {
      log::Warn("tls.chain", where + ": " + checked->chain_problem);
    }
  }
  return t;
}

Result<std::string> ServedTls::Reload(HttpsServer& https, int64_t now) {
  std::lock_guard reloading(reload_mu_);
  COFFRE_ASSIGN_OR_RETURN(LoadedTls t, Read(now));
  COFFRE_TRY(https.SetCertificate(t.material.cert_pem, t.material.key_pem));
  Served(t.info, now);
  log::Info("tls.loaded",
            "TLS certificate loaded: fingerprint " + t.info.fingerprint + ", not after " +
                crypto::FormatUtc(t.info.not_after),
            {{"fingerprint", t.info.fingerprint}, {"not_after", t.info.not_after}});
  return t.info.fingerprint;
}

void ServedTls::Served(const crypto::TlsCertificateInfo& info, int64_t now) {
  {
    std::lock_guard lock(mu_);
    fingerprint_ = info.fingerprint;
    not_after_ = info.not_after;
    warned_at_ = 0;
  }
  served_not_after.store(info.not_after, std::memory_order_relaxed);
  WarnIfExpiring(now);
}

std::string ServedTls::served_fingerprint() {
  std::lock_guard lock(mu_);
  return fingerprint_;
}

void ServedTls::WarnIfExpiring(int64_t now) {
  std::lock_guard lock(mu_);
  if (not_after_ == 0 || not_after_ - now >= crypto::kTlsExpiryWarningSeconds) return;
  if (warned_at_ != 0 && now - warned_at_ < 86400) return;
  warned_at_ = now;
  const int64_t days = (not_after_ - now) / 86400;
  if (now >= not_after_) {
    log::Warn("tls.expiry",
              "the TLS certificate served expired on " + crypto::FormatUtc(not_after_),
              {{"days", days}});
  } else {
    log::Warn("tls.expiry",
              "the TLS certificate served expires in " + std::to_string(days) + " days, on " +
                  crypto::FormatUtc(not_after_) +
                  " (renew it: coffre tls set, or replace --tls-cert's files and reload)",
              {{"days", days}});
  }
}

int64_t ServedTlsNotAfter() { return served_not_after.load(std::memory_order_relaxed); }

}  // namespace coffre::server
