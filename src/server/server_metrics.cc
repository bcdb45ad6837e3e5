// What the metrics listener exposes (server/server_metrics.h).
#include "server/server_metrics.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <filesystem>
#include <memory>
#include <system_error>

#include "api/routes.h"

namespace coffre::server {
namespace {

std::vector<RouteLabel> RouteLabels() {
  std::vector<RouteLabel> out;
  for (const api::MetricRoute& r : api::MetricRoutes()) out.push_back({r.route, r.method});
  return out;
}

// Bytes of the regular files under `dir` (SST files, write-ahead log,
// MANIFEST): what the vault takes on disk. Files that vanish during the
// walk (a compaction) are skipped.
uint64_t DirectoryBytes(const std::string& dir) {
  namespace fs = std::filesystem;
  uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    std::error_code fe;
    if (it->is_regular_file(fe)) {
      const uintmax_t size = it->file_size(fe);
      if (!fe) total += size;
    }
  }
  return total;
}

constexpr auth::Kind kKinds[] = {auth::Kind::kService, auth::Kind::kHuman, auth::Kind::kUser};

}  // namespace

Result<int64_t> CertificateNotAfter(const std::string& cert_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), &BIO_free);
  if (!bio) return Fail(ErrorCode::kInternal, "out of memory");
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert) return Fail(ErrorCode::kInvalidArgument, "the TLS certificate does not parse");
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1)
    return Fail(ErrorCode::kInvalidArgument, "the TLS certificate's notAfter does not parse");
  return static_cast<int64_t>(timegm(&tm));
}

ServerMetrics::ServerMetrics(const ServerMetricsOptions& options)
    : options_(options), requests_(RouteLabels()) {
  if (auto t = CertificateNotAfter(options_.cert_pem)) pem_not_after_ = *t;
  requests_.Register(registry_);
  registry_.Add("coffre_sealed", "1 while the vault is sealed (requests refused), else 0.",
                metrics::Type::kGauge, [this](metrics::Writer& w) {
                  const bool sealed = options_.sealed != nullptr &&
                                      options_.sealed->load(std::memory_order_relaxed);
                  w.Sample("coffre_sealed", sealed ? 1.0 : 0.0);
                });
  registry_.Add("coffre_principals", "Registered principals, by kind.", metrics::Type::kGauge,
                [this](metrics::Writer& w) { CollectPrincipals(w, false); });
  registry_.Add("coffre_principals_suspended",
                "Suspended principals, by kind (the guard suspends on a hard quota or a canary).",
                metrics::Type::kGauge, [this](metrics::Writer& w) { CollectPrincipals(w, true); });
  registry_.Add("coffre_quota_usage_ratio",
                "Share of a quota used now, for staff and service principals at 0.5 or more of "
                "it: subjects exposed in a window over the hard limit, searches over the cap.",
                metrics::Type::kGauge, [this](metrics::Writer& w) { CollectQuotaUsage(w); });
  registry_.Add("coffre_store_size_bytes",
                "Bytes of the files in the vault's data directory (RocksDB SST files, WAL, "
                "MANIFEST).",
                metrics::Type::kGauge, [this](metrics::Writer& w) {
                  w.Sample("coffre_store_size_bytes",
                           static_cast<double>(DirectoryBytes(options_.data_dir)));
                });
  registry_.Add("coffre_tls_certificate_expiry_timestamp_seconds",
                "The served TLS certificate's notAfter, in seconds since the epoch.",
                metrics::Type::kGauge, [this](metrics::Writer& w) {
                  if (auto t = NotAfter()) {
                    w.Sample("coffre_tls_certificate_expiry_timestamp_seconds",
                             static_cast<double>(*t));
                  }
                });
  registry_.Add("coffre_tls_certificate_expiry_days",
                "Days until the served TLS certificate expires (negative once expired).",
                metrics::Type::kGauge, [this](metrics::Writer& w) {
                  if (auto t = NotAfter()) {
                    const int64_t now = options_.runtime.clock().NowUnixSeconds();
                    w.Sample("coffre_tls_certificate_expiry_days",
                             static_cast<double>(*t - now) / 86400.0);
                  }
                });
}

std::optional<int64_t> ServerMetrics::NotAfter() const {
  if (options_.certificate_not_after) return options_.certificate_not_after();
  return pem_not_after_;
}

void ServerMetrics::CollectPrincipals(metrics::Writer& w, bool suspended_only) const {
  if (!listed_ || !*listed_) return;  // no samples: the scrape shows the family empty
  const std::vector<auth::Principal>& listed =
      **listed_;  // no samples: the scrape shows the family empty
  std::array<uint64_t, std::size(kKinds)> counts{};
  for (const auth::Principal& p : listed) {
    if (suspended_only && !p.suspended) continue;
    for (size_t k = 0; k < std::size(kKinds); ++k) counts[k] += p.kind == kKinds[k];
  }
  const std::string_view name =
      suspended_only ? "coffre_principals_suspended" : "coffre_principals";
  for (size_t k = 0; k < std::size(kKinds); ++k) {
    const metrics::Label l{"kind", auth::KindName(kKinds[k])};
    w.Sample(name, {&l, 1}, counts[k]);
  }
}

void ServerMetrics::CollectQuotaUsage(metrics::Writer& w) const {
  if (!listed_ || !*listed_) return;
  const std::vector<auth::Principal>& listed = **listed_;
  const auto policy = options_.runtime.policy();
  guard::QuotaTracker& quotas = options_.runtime.guard().quotas();
  auto emit = [&](const auth::Principal& p, std::string_view limit, std::string_view window,
                  uint64_t used, uint64_t of) {
    if (of == 0) return;
    const double ratio = static_cast<double>(used) / static_cast<double>(of);
    if (ratio < kQuotaUsageExposedFrom) return;
    const metrics::Label labels[] = {{"principal", p.name}, {"limit", limit}, {"window", window}};
    w.Sample("coffre_quota_usage_ratio", labels, ratio);
  };
  for (const auth::Principal& p : listed) {
    // End users are never named in a label: their names are personal data.
    if (p.kind == auth::Kind::kUser) continue;
    const policy::Limits* limits = policy->LimitsOf(p.role);
    if (limits == nullptr) continue;
    const guard::QuotaTracker::Usage used = quotas.UsageOf(p.name, *limits);
    for (size_t i = 0; i < limits->subjects.size() && i < used.subjects.size(); ++i) {
      emit(p, "subjects", limits->subjects[i].window, used.subjects[i], limits->subjects[i].hard);
    }
    if (limits->searches)
      emit(p, "searches", limits->searches->window, used.searches, limits->searches->max);
  }
}

std::string ServerMetrics::Render() const {
  std::lock_guard lock(render_mu_);
  listed_ = options_.runtime.directory().List();
  std::string out;
  metrics::Default().RenderTo(out);
  registry_.RenderTo(out);
  listed_.reset();
  return out;
}

}  // namespace coffre::server
