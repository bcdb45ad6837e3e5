// The HTTP routes: (method, path pattern) -> the operation that serves it
// (app/operations.h). The one place route facts are written: matching,
// the methods of a path (Allow and 405), which requests may run on an I/O
// thread (the operation's may_block) all come from kRoutes in routes.cc.
//
//   const api::RouteTable& t = api::Routes();
//   app::OpInput in;
//   if (const api::PathRoute* p = t.Match("/v1/cards/ct_x", in)) {
//     const app::Operation* op = p->For("GET");   // null: 405, p->allow
//   }
//
// Thread-safety: the table is built once (a function-local static) and
// immutable after.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "app/operation.h"

namespace coffre::api {

// One route as written in the table.
struct RouteDef {
  std::string_view method;   // "GET"
  std::string_view pattern;  // "/v1/collections/{collection}/records/{id}"
  std::string_view op;       // "record.get"
};

// Every route, in table order.
std::span<const RouteDef> RouteDefs();

// One path pattern and the operations of its methods.
struct PathRoute {
  enum class Part { kLiteral, kCollection, kId };
  struct Segment {
    Part part = Part::kLiteral;
    std::string_view literal;
  };
  struct Method {
    std::string_view method;
    const app::Operation* op;
    uint16_t metric_route;  // its index in MetricRoutes()
  };
  std::string_view pattern;
  uint16_t metric_route;  // other methods on this path: its index in MetricRoutes()
  std::vector<Segment> segments;
  std::vector<Method> methods;
  std::string allow;  // "GET, PATCH, DELETE": the methods, in table order

  // The operation of `method` on this path; null when it answers 405.
  const app::Operation* For(std::string_view method) const {
    const Method* m = Find(method);
    return m != nullptr ? m->op : nullptr;
  }
  const Method* Find(std::string_view method) const {
    for (const Method& m : methods) {
      if (m.method == method) return &m;
    }
    return nullptr;
  }
  // The metrics index of a request with `method` on this path.
  uint16_t MetricRouteOf(std::string_view method) const {
    const Method* m = Find(method);
    return m != nullptr ? m->metric_route : metric_route;
  }
};

class RouteTable {
 public:
  // The route of `path` ({collection} and {id} filled into `in`), or null.
  // A path with an empty segment or a percent sign matches nothing: coffre's
  // paths never need encoding, so none is decoded.
  const PathRoute* Match(std::string_view path, app::OpInput& in) const;
  const std::vector<PathRoute>& paths() const { return paths_; }

 private:
  friend const RouteTable& Routes();
  std::vector<PathRoute> paths_;
};

// The table, every operation resolved once (a name with no operation is a
// bug caught by routes_test).
const RouteTable& Routes();

// The routes as metrics label them (Response::route indexes this): every
// route of the table (its template and method), then every path template
// with method "other" (a method it does not answer). Built once.
struct MetricRoute {
  std::string_view route;
  std::string_view method;
};
std::span<const MetricRoute> MetricRoutes();

}  // namespace coffre::api
