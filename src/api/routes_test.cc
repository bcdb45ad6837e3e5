// The route table (api/routes.h) against the operation table and the
// OpenAPI document (api/openapi.yaml, embedded as kOpenApiJson): every
// documented path and method is a route to an operation, and every route
// is documented.
#include "api/routes.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "app/operations.h"
#include "openapi_json.h"

namespace coffre::api {
namespace {

namespace json = boost::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// (pattern, lower-case method) pairs of the OpenAPI document.
std::set<std::pair<std::string, std::string>> Documented() {
  std::set<std::pair<std::string, std::string>> out;
  json::value doc = json::parse(kOpenApiJson);
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [key, op] : item.as_object()) {
      for (std::string_view m : {"get", "put", "post", "patch", "delete", "head", "options"}) {
        if (key == m) out.emplace(std::string(path), std::string(m));
      }
    }
  }
  return out;
}

TEST(RoutesTest, EveryRouteRunsAnOperation) {
  for (const RouteDef& d : RouteDefs()) {
    EXPECT_NE(app::FindOperation(d.op), nullptr) << d.method << " " << d.pattern << " -> " << d.op;
  }
  for (const PathRoute& p : Routes().paths()) {
    for (const PathRoute::Method& m : p.methods) EXPECT_NE(m.op, nullptr) << p.pattern;
  }
}

TEST(RoutesTest, OperationNamesAreUnique) {
  std::set<std::string_view> names;
  for (const app::Operation* op : app::AllOperations()) {
    EXPECT_TRUE(names.insert(op->name).second) << op->name;
    EXPECT_NE(op->run, nullptr) << op->name;
    EXPECT_EQ(app::FindOperation(op->name), op);
  }
  EXPECT_EQ(app::FindOperation("no.such.op"), nullptr);
}

TEST(RoutesTest, EveryDocumentedMethodIsARoute) {
  std::set<std::pair<std::string, std::string>> routes;
  for (const RouteDef& d : RouteDefs()) routes.emplace(std::string(d.pattern), Lower(d.method));
  auto documented = Documented();
  ASSERT_GT(documented.size(), 20u);
  for (const auto& [path, method] : documented) {
    EXPECT_TRUE(routes.count({path, method}))
        << "documented but not routed: " << method << " " << path;
  }
}

TEST(RoutesTest, EveryRouteIsDocumented) {
  auto documented = Documented();
  for (const RouteDef& d : RouteDefs()) {
    // HEAD is GET without the body (RFC 9110, 9.3.2): documented by GET.
    std::string method = d.method == "HEAD" ? "get" : Lower(d.method);
    EXPECT_TRUE(documented.count({std::string(d.pattern), method}))
        << "routed but not documented: " << d.method << " " << d.pattern;
  }
}

TEST(RoutesTest, MatchFillsParametersAndRefusesOddPaths) {
  const RouteTable& t = Routes();
  app::OpInput in;
  const PathRoute* p = t.Match("/v1/collections/people/records/ab12", in);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(in.collection, "people");
  EXPECT_EQ(in.id, "ab12");
  EXPECT_EQ(p->allow, "GET, PATCH, DELETE");
  ASSERT_NE(p->For("GET"), nullptr);
  EXPECT_EQ(p->For("GET")->name, "record.get");
  EXPECT_FALSE(p->For("GET")->may_block);
  EXPECT_EQ(p->For("POST"), nullptr);

  app::OpInput archived;
  p = t.Match("/v1/archive/people/cd34", archived);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(archived.collection, "people");
  EXPECT_EQ(archived.id, "cd34");

  app::OpInput none;
  for (std::string_view odd :
       {"", "v1/audit", "/v1/audit/", "/v1//audit", "/v1/au%64it", "/v1/collections/people",
        "/v1/collections/people/records/a/b", "/v2/audit"}) {
    EXPECT_EQ(t.Match(odd, none), nullptr) << odd;
  }
  EXPECT_EQ(t.Match("/healthz", none)->allow, "GET, HEAD");
  EXPECT_EQ(t.Match("/v1/subjects/ab/hold", none)->allow, "GET, PUT, DELETE");
}

TEST(RoutesTest, OnlyReadsWithDeferredAuditAvoidBlocking) {
  std::set<std::string_view> non_blocking;
  for (const app::Operation* op : app::AllOperations()) {
    if (!op->may_block) non_blocking.insert(op->name);
    if (!op->may_block) EXPECT_FALSE(op->writes) << op->name;
  }
  EXPECT_EQ(non_blocking,
            (std::set<std::string_view>{"health.get", "ready.get", "openapi.get", "record.get"}));
}

}  // namespace
}  // namespace coffre::api

namespace coffre::api {
namespace {

// A concrete path for a template: each {parameter} filled with a word.
std::string Concrete(std::string_view pattern) {
  std::string out;
  size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == '{') {
      out += "x1";
      i = pattern.find('}', i) + 1;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

// Metrics label a request by the template and method it matched, so that
// no id of a path ever reaches a label.
TEST(RoutesTest, MetricRoutesLabelEachRouteByItsTemplateAndMethod) {
  const auto labels = MetricRoutes();
  ASSERT_EQ(labels.size(), RouteDefs().size() + Routes().paths().size());
  for (const RouteDef& d : RouteDefs()) {
    app::OpInput in;
    const PathRoute* p = Routes().Match(Concrete(d.pattern), in);
    ASSERT_NE(p, nullptr) << d.pattern;
    const uint16_t i = p->MetricRouteOf(d.method);
    ASSERT_LT(i, labels.size());
    EXPECT_EQ(labels[i].route, d.pattern);
    EXPECT_EQ(labels[i].method, d.method);
    const uint16_t other = p->MetricRouteOf("BREW");
    ASSERT_LT(other, labels.size());
    EXPECT_EQ(labels[other].route, d.pattern);
    EXPECT_EQ(labels[other].method, "other");
  }
  for (const MetricRoute& l : labels) EXPECT_EQ(l.route.find("x1"), std::string_view::npos);
}

}  // namespace
}  // namespace coffre::api
