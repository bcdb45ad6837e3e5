// The HTTP routes (api/routes.h).
#include "api/routes.h"

#include <span>

#include "app/operations.h"

namespace coffre::api {
namespace {

// The busiest route first: matching stops at the first path that fits.
constexpr RouteDef kRoutes[] = {
    {"GET", "/v1/collections/{collection}/records/{id}", "record.get"},
    {"PATCH", "/v1/collections/{collection}/records/{id}", "record.update"},
    {"DELETE", "/v1/collections/{collection}/records/{id}", "record.delete"},
    {"POST", "/v1/collections/{collection}/records", "record.create"},
    {"POST", "/v1/collections/{collection}/search", "record.search"},
    {"GET", "/healthz", "health.get"},
    {"HEAD", "/healthz", "health.get"},
    {"GET", "/readyz", "ready.get"},
    {"HEAD", "/readyz", "ready.get"},
    {"POST", "/v1/sessions", "session.create"},
    {"GET", "/v1/openapi.json", "openapi.get"},
    {"GET", "/v1/subjects/{subject}", "subject.export"},
    {"DELETE", "/v1/subjects/{subject}", "subject.erase"},
    {"GET", "/v1/audit", "audit.list"},
    {"GET", "/v1/alerts", "alerts.list"},
    {"POST", "/v1/breach-reports", "breach.report"},
    {"GET", "/v1/approvals", "approval.list"},
    {"POST", "/v1/approvals", "approval.create"},
    {"GET", "/v1/approvals/{id}", "approval.get"},
    {"POST", "/v1/approvals/{id}/approve", "approval.approve"},
    {"POST", "/v1/cards", "card.create"},
    {"GET", "/v1/cards/{token}", "card.get"},
    {"DELETE", "/v1/cards/{token}", "card.delete"},
    {"POST", "/v1/cards/{token}/complete", "card.complete"},
    {"GET", "/v1/credentials/{user}", "credential.get"},
    {"PUT", "/v1/credentials/{user}", "credential.set"},
    {"POST", "/v1/credentials/{user}/verify", "credential.verify"},
    {"POST", "/v1/credentials/{user}/reset", "credential.reset"},
    {"GET", "/v1/subjects/{subject}/hold", "retention.hold.get"},
    {"PUT", "/v1/subjects/{subject}/hold", "retention.hold.set"},
    {"DELETE", "/v1/subjects/{subject}/hold", "retention.hold.release"},
    {"GET", "/v1/archive/{collection}/{id}", "archive.get"},
};

std::vector<PathRoute::Segment> Parse(std::string_view pattern) {
  std::vector<PathRoute::Segment> out;
  size_t pos = 1;
  while (pos <= pattern.size()) {
    size_t next = pattern.find('/', pos);
    if (next == std::string_view::npos) next = pattern.size();
    std::string_view s = pattern.substr(pos, next - pos);
    PathRoute::Segment seg;
    if (s == "{collection}") {
      seg.part = PathRoute::Part::kCollection;
    } else if (!s.empty() && s.front() == '{') {
      seg.part = PathRoute::Part::kId;
    } else {
      seg.literal = s;
    }
    out.push_back(seg);
    pos = next + 1;
  }
  return out;
}

bool MatchPath(const PathRoute& r, std::string_view path, app::OpInput& in) {
  size_t pos = 1;
  size_t i = 0;
  for (;;) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    std::string_view seg = path.substr(pos, next - pos);
    if (seg.empty() || i == r.segments.size()) return false;
    const PathRoute::Segment& s = r.segments[i++];
    switch (s.part) {
      case PathRoute::Part::kLiteral:
        if (seg != s.literal) return false;
        break;
      case PathRoute::Part::kCollection:
        in.collection = seg;
        break;
      case PathRoute::Part::kId:
        in.id = seg;
        break;
    }
    if (next == path.size()) break;
    pos = next + 1;
  }
  return i == r.segments.size();
}

}  // namespace

std::span<const RouteDef> RouteDefs() { return kRoutes; }

const PathRoute* RouteTable::Match(std::string_view path, app::OpInput& in) const {
  if (path.empty() || path[0] != '/' || path.find('%') != std::string_view::npos) return nullptr;
  for (const PathRoute& r : paths_) {
    app::OpInput found;
    if (MatchPath(r, path, found)) {
      in.collection = found.collection;
      in.id = found.id;
      return &r;
    }
  }
  return nullptr;
}

const RouteTable& Routes() {
  static const RouteTable table = [] {
    RouteTable t;
    for (const RouteDef& d : kRoutes) {
      PathRoute* p = nullptr;
      for (PathRoute& existing : t.paths_) {
        if (existing.pattern == d.pattern) p = &existing;
      }
      if (p == nullptr) {
        p = &t.paths_.emplace_back();
        p->pattern = d.pattern;
        p->segments = Parse(d.pattern);
      }
      p->methods.push_back(
          {d.method, app::FindOperation(d.op), static_cast<uint16_t>(&d - std::begin(kRoutes))});
      if (!p->allow.empty()) p->allow += ", ";
      p->allow += d.method;
    }
    for (size_t i = 0; i < t.paths_.size(); ++i) {
      t.paths_[i].metric_route = static_cast<uint16_t>(std::size(kRoutes) + i);
    }
    return t;
  }();
  return table;
}

std::span<const MetricRoute> MetricRoutes() {
  static const std::vector<MetricRoute> routes = [] {
    std::vector<MetricRoute> v;
    for (const RouteDef& d : kRoutes) v.push_back({d.pattern, d.method});
    for (const PathRoute& p : Routes().paths()) v.push_back({p.pattern, "other"});
    return v;
  }();
  return routes;
}

}  // namespace coffre::api
