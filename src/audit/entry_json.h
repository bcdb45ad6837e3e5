// JSON form of an audit entry for the API (GET /v1/audit) and the CLI:
// RFC 3339 UTC times with milliseconds, ids in lower-case hex.
//
//   {"seq":42,"time":"2026-11-22T04:15:57.123Z","principal":"billing-svc",
//    "on_behalf_of":"","action":"read","collection":"people",
//    "record_id":"0193...","subjects":["0193..."],
//    "fields":[{"field":"iban","view":"masked"}],"purpose":"invoice",
//    "outcome":"allowed","reason":"","source":"https:10.0.0.7"}
//
// Thread-safety: free functions.
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "audit/entry.h"

namespace coffre::audit {

boost::json::object EntryToJson(const Entry& entry);
// Compact serialisation of EntryToJson.
std::string EntryToJsonText(const Entry& entry);
// "2026-11-22T04:15:57.123Z"
std::string FormatTimeMs(int64_t time_ms);

}  // namespace coffre::audit
