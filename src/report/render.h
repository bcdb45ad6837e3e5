// A breach report as JSON, Markdown (with the draft notification to the
// supervisory authority, GDPR art. 33(3), and the draft notice to the
// people concerned, art. 34, in English or French: drafts.h) or CSV (one
// row per person). Canary records are never listed: `canaries` counts them.
// Every format carries ids, field names and counts only: the report is
// built from the audit log, which holds no personal value.
//
//   std::string json = report::RenderJson(r);
//   std::string md = report::RenderMarkdown(r, {.contact = "DPO, dpo@example.org"});
//   std::string csv = report::RenderCsv(r);
//
// JSON shape (docs/api.md, "Breach reports"):
//   {"report":"coffre breach report v1","principal":"support-app","user":null,
//    "from":"…Z","to":"…Z","generated_at":"…Z",
//    "verification":{"ok":true,"anchored":true,"from_checkpoint":{"seq":2000,"time":"…"},
//                    "to_checkpoint":3000,"first_seq":2001,"last_seq":3000,"entries":1000,
//                    "checkpoints":2,"anchor_checkpoints":2,"unsigned_tail":0},
//    "entries":{"matched":40,"exposing":35,"denied":5},
//    "people":12,"canaries":0,"records":12,"collections":["people"],"actions":["read","search"],
//    "subjects":["<id>",…],
//    "exposures":[{"subject":"<id>","collections":["people"],
//                  "fields":{"people.email":"masked","people.first_name":"clear"},
//                  "actions":["read"],"entries":2,"first":"…","last":"…"}],
//    "categories":{"identity":{"people":12,"people_clear":12,"records":12,
//                              "fields":["people.first_name"]},…}}
// When verification failed: {"report":…, "verification":{"ok":false,
// "first_bad_seq":N,"problem":"…",…}} and no subjects.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "report/breach_report.h"

namespace coffre::report {

enum class Format { kJson, kMarkdown, kCsv };
// "json", "md", "csv"; kInvalidArgument otherwise.
Result<Format> ParseFormat(std::string_view name);
// "application/json", "text/markdown; charset=utf-8", "text/csv; charset=utf-8".
std::string_view ContentType(Format f);

// The language of the notification drafts (the rest of a report is in
// English): "en" (default) or "fr".
enum class Lang { kEn, kFr };
// "en", "fr"; kInvalidArgument otherwise.
Result<Lang> ParseLang(std::string_view name);

struct RenderOptions {
  // The contact point of the notification draft (art. 33(3)(b)): the data
  // protection officer or another contact. Empty: a placeholder, clearly
  // marked as to be completed.
  std::string contact;
  Lang lang = Lang::kEn;
};

std::string RenderJson(const BreachReport& report);
std::string RenderMarkdown(const BreachReport& report, const RenderOptions& options = {});
std::string RenderCsv(const BreachReport& report);
std::string Render(const BreachReport& report, Format format, const RenderOptions& options = {});

namespace internal {
// audit::FormatTimeMs without temporaries (exposed for its test).
void AppendTimeMs(std::string& out, int64_t ms);
}  // namespace internal

}  // namespace coffre::report
