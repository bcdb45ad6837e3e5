#include "audit/entry_json.h"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>

#include "common/bytes.h"
#include "common/clock.h"

namespace coffre::audit {

std::string FormatTimeMs(int64_t time_ms) {
  std::string s = FormatRfc3339(time_ms / 1000);  // "...:SSZ"
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(time_ms % 1000));
  s.insert(s.size() - 1, frac);
  return s;
}

boost::json::object EntryToJson(const Entry& e) {
  boost::json::object o;
  o["seq"] = e.seq;
  o["time"] = FormatTimeMs(e.time_ms);
  o["principal"] = e.principal;
  o["on_behalf_of"] = e.on_behalf_of;
  o["action"] = e.action;
  o["collection"] = e.collection;
  o["record_id"] = ToHex(e.record_id);
  boost::json::array subjects;
  subjects.reserve(e.subjects.size());
  for (const auto& s : e.subjects) subjects.emplace_back(ToHex(s));
  o["subjects"] = std::move(subjects);
  boost::json::array fields;
  fields.reserve(e.fields.size());
  for (const auto& f : e.fields) {
    fields.emplace_back(boost::json::object{{"name", f.field},
                                            {"view", f.view == kViewMasked ? "masked" : "clear"}});
  }
  o["fields"] = std::move(fields);
  o["purpose"] = e.purpose;
  o["outcome"] = e.outcome;
  o["reason"] = e.reason;
  o["source"] = e.source;
  o["request_id"] = e.request_id;
  return o;
}

std::string EntryToJsonText(const Entry& e) { return boost::json::serialize(EntryToJson(e)); }

}  // namespace coffre::audit
