// Times as people type them: the one parser behind every time parameter of
// coffre (CLI --from/--to, the query parameters of /v1/audit and
// /v1/alerts, breach reports and their approvals). Accepts RFC 3339 with
// any offset and a plain date, which is UTC:
//
//   2026-12-01T10:00:00+01:00   2026-12-01t09:00:00.25z   2026-12-01
//
//   auto from = ParseTime("2026-12-01", TimeBound::kFrom, "--from");  // 00:00:00.000Z
//   auto to = ParseTime("2026-12-01", TimeBound::kTo, "--to");        // 23:59:59.999Z
//   if (!to) return to.error();  // kInvalidArgument: "--to: 2026-02 has no day 30"
//
// A bound covers what it names: as `to` (inclusive), a date reaches the end
// of its day, a time without a fraction the end of its second, a fraction
// the end of its last digit; as `from`, all start at its beginning. Times
// are kept to the millisecond (audit entries' resolution): further digits
// are dropped. A leap second (:60) reads as the second before it. Errors
// name the parameter (`what`) and the problem, never repeat the text.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre {

enum class TimeBound {
  kInstant,  // a point in time: a date alone is refused
  kFrom,     // start of a window (inclusive)
  kTo,       // end of a window (inclusive)
};

// Milliseconds since the Unix epoch. kInvalidArgument naming `what`.
Result<int64_t> ParseTime(std::string_view text, TimeBound bound, std::string_view what);

// The canonical text of a bound in UTC, which ParseTime reads back as the
// same millisecond with the same bound: "2026-12-01T09:00:00Z" for a whole
// second (as `to`: for its last millisecond), else with three decimals
// ("2026-12-01T09:00:00.250Z").
std::string FormatTimeBound(int64_t ms, TimeBound bound);

}  // namespace coffre
