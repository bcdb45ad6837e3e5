#include "report/render.h"

#include <boost/json.hpp>

#include "audit/entry.h"
#include "audit/entry_json.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/time_text.h"
#include "report/drafts.h"

namespace coffre::report {
namespace {

namespace json = boost::json;
using internal::Count;
using internal::Join;

std::string Time(int64_t ms) { return FormatRfc3339(ms / 1000); }

std::string_view ViewName(char v) { return v == audit::kViewClear ? "clear" : "masked"; }

// Appends the 32 hex characters of an id: no temporary string.
void AppendHex(std::string& out, std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char b : bytes) {
    auto c = static_cast<unsigned char>(b);
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

// Appends audit::FormatTimeMs(ms) ("2026-11-22T04:15:57.123Z") without
// strftime or temporaries: two per exposed person. Days to a civil date by
// H. Hinnant's algorithm (proleptic Gregorian, as gmtime).
void AppendTimeMs(std::string& out, int64_t ms) {
  if (ms < 0) {
    out += audit::FormatTimeMs(ms);
    return;
  }
  int64_t secs = ms / 1000;
  const int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  const int64_t z = days + 719468;
  const int64_t era = z / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[32];
  auto put = [&](int at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buf[at + i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  if (y > 9999) {
    out += audit::FormatTimeMs(ms);
    return;
  }
  put(0, y, 4);
  buf[4] = '-';
  put(5, m, 2);
  buf[7] = '-';
  put(8, d, 2);
  buf[10] = 'T';
  put(11, sod / 3600, 2);
  buf[13] = ':';
  put(14, sod % 3600 / 60, 2);
  buf[16] = ':';
  put(17, sod % 60, 2);
  buf[19] = '.';
  put(20, ms % 1000, 3);
  buf[23] = 'Z';
  out.append(buf, 24);
}

// A person's collections, actions and fields by name, from the report's
// tables.
std::vector<std::string> CollectionsOf(const BreachReport& r, const SubjectExposure& x) {
  std::vector<std::string> out;
  for (uint32_t c : x.collections) out.push_back(r.collections[c]);
  return out;
}
std::vector<std::string> ActionsOf(const BreachReport& r, const SubjectExposure& x) {
  std::vector<std::string> out;
  for (uint32_t b = 0; b < r.actions.size() && b < 64; ++b) {
    if (x.actions & (uint64_t{1} << b)) out.push_back(r.actions[b]);
  }
  return out;
}

std::string Records(uint64_t n) { return Count(n) + (n == 1 ? " record" : " records"); }

// Appends `s` as a JSON string (names are identifiers; escaping is a
// safeguard).
void AppendQuoted(std::string& out, std::string_view s) {
  out += '"';
  AppendJsonEscaped(out, s);
  out += '"';
}

json::object VerificationJson(const BreachReport& r) {
  const audit::VerifyReport& v = r.verification;
  json::object o{{"ok", v.ok},
                 {"anchored", v.anchored},
                 {"first_seq", v.first_seq},
                 {"last_seq", v.last_seq},
                 {"entries", v.entries},
                 {"checkpoints", v.checkpoints},
                 {"anchor_checkpoints", v.anchor_checkpoints},
                 {"unsigned_tail", v.unsigned_tail}};
  if (v.start_checkpoint_seq) {
    o["from_checkpoint"] = json::object{{"seq", *v.start_checkpoint_seq},
                                        {"time", audit::FormatTimeMs(v.start_checkpoint_time_ms)}};
  } else {
    o["from_checkpoint"] = nullptr;  // from entry 1
  }
  if (v.end_checkpoint_seq) {
    o["to_checkpoint"] = *v.end_checkpoint_seq;
  } else {
    o["to_checkpoint"] = nullptr;  // to the end of the log
  }
  if (v.first_bad_seq) o["first_bad_seq"] = *v.first_bad_seq;
  if (!v.problem.empty()) o["problem"] = v.problem;
  return o;
}

std::string Who(const BreachReport& r) {
  std::string s;
  if (r.query.principal) s += "principal `" + *r.query.principal + "`";
  if (r.query.user) {
    s += r.query.principal ? " acting on behalf of user `" : "end user `";
    s += *r.query.user + "`";
  }
  return s;
}

void VerificationMarkdown(const BreachReport& r, std::string& md) {
  const audit::VerifyReport& v = r.verification;
  md += "## Verification of the audit log\n\n";
  if (!v.ok) {
    md += "**FAILED.** The audit log does not verify over this window: " + v.problem;
    if (v.first_bad_seq) md += " (first bad entry: " + std::to_string(*v.first_bad_seq) + ")";
    md +=
        ". The log has been altered; no list of people is given, because it could be "
        "wrong. Preserve the data directory and the anchor as evidence.\n\n";
    return;
  }
  md += "Verified. The hash chain of the audit log was checked ";
  if (v.start_checkpoint_seq) {
    md += "from the signed checkpoint at entry " + std::to_string(*v.start_checkpoint_seq) + " (" +
          audit::FormatTimeMs(v.start_checkpoint_time_ms) + ")";
  } else {
    md += "from the first entry of the log";
  }
  if (v.end_checkpoint_seq) {
    md += " to the signed checkpoint at entry " + std::to_string(*v.end_checkpoint_seq);
  } else {
    md += " to the end of the log (entry " + std::to_string(v.last_seq) + ")";
  }
  md += ": " + Count(v.entries) + " entries (" + std::to_string(v.first_seq) + ".." +
        std::to_string(v.last_seq) + "), " + Count(v.checkpoints) + " stored and " +
        Count(v.anchor_checkpoints) + " anchored checkpoint signatures.";
  if (v.anchored) {
    md += " The public key and the anchored checkpoints come from the anchor `" + r.anchor_path +
          "`, kept outside the data directory.";
  } else {
    md +=
        " No anchor file was found: checked against the given public key only; entries "
        "removed after the last checkpoint could not be detected.";
  }
  if (v.unsigned_tail > 0) {
    md += " " + Count(v.unsigned_tail) +
          " entries after the last checkpoint are chained but not yet signed.";
  }
  md += "\n\n";
}

}  // namespace

Result<Lang> ParseLang(std::string_view name) {
  if (name == "en") return Lang::kEn;
  if (name == "fr") return Lang::kFr;
  return Fail(ErrorCode::kInvalidArgument, "lang must be en or fr");
}

Result<Format> ParseFormat(std::string_view name) {
  if (name == "json") return Format::kJson;
  if (name == "md") return Format::kMarkdown;
  if (name == "csv") return Format::kCsv;
  return Fail(ErrorCode::kInvalidArgument, "format must be md, json or csv");
}

std::string_view ContentType(Format f) {
  switch (f) {
    case Format::kJson:
      return "application/json";
    case Format::kMarkdown:
      return "text/markdown; charset=utf-8";
    case Format::kCsv:
      return "text/csv; charset=utf-8";
  }
  return "application/octet-stream";
}

std::string RenderJson(const BreachReport& r) {
  json::object head{
      {"report", "coffre breach report v1"},
      {"principal", r.query.principal ? json::value(*r.query.principal) : json::value(nullptr)},
      {"user", r.query.user ? json::value(*r.query.user) : json::value(nullptr)},
      {"from", FormatTimeBound(r.query.from_ms, TimeBound::kFrom)},
      {"to", FormatTimeBound(r.query.to_ms, TimeBound::kTo)},
      {"generated_at", Time(r.generated_ms)},
      {"verification", VerificationJson(r)}};
  std::string out = json::serialize(head);
  if (!r.verification.ok) return out;
  out.pop_back();  // '}': the large arrays are streamed, not built as values
  json::object summary{{"entries", json::object{{"matched", r.entries_matched},
                                                {"exposing", r.entries_exposing},
                                                {"denied", r.entries_denied}}},
                       {"people", r.subjects.size()},
                       {"canaries", r.canaries},
                       {"records", r.records}};
  json::array collections, actions;
  for (const auto& c : r.collections) collections.emplace_back(c);
  for (const auto& a : r.actions) actions.emplace_back(a);
  summary["collections"] = std::move(collections);
  summary["actions"] = std::move(actions);
  std::string s = json::serialize(summary);
  out += ',';
  out.append(s, 1, s.size() - 2);
  // About 40 bytes per person in `subjects`, 150 plus 25 per field in
  // `exposures`: one allocation for hundreds of megabytes, not a dozen.
  size_t estimate = out.size() + 4096;
  for (const SubjectExposure& x : r.subjects) estimate += 200 + 30 * x.fields.size();
  out.reserve(estimate);
  out += ",\"subjects\":[";
  for (size_t i = 0; i < r.subjects.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    AppendHex(out, r.subjects[i].id());
    out += '"';
  }
  // Every name quoted once, not once per person.
  std::vector<std::string> collection_json, action_json, field_json;
  for (const auto& c : r.collections) AppendQuoted(collection_json.emplace_back(), c);
  for (const auto& a : r.actions) AppendQuoted(action_json.emplace_back(), a);
  for (const auto& f : r.fields) AppendQuoted(field_json.emplace_back(), f.Name());
  out += "],\"exposures\":[";
  for (size_t i = 0; i < r.subjects.size(); ++i) {
    const SubjectExposure& x = r.subjects[i];
    if (i > 0) out += ',';
    out += "{\"subject\":\"";
    AppendHex(out, x.id());
    out += "\",\"collections\":[";
    for (size_t j = 0; j < x.collections.size(); ++j) {
      if (j > 0) out += ',';
      out += collection_json[x.collections[j]];
    }
    out += "],\"fields\":{";
    for (size_t j = 0; j < x.fields.size(); ++j) {
      if (j > 0) out += ',';
      out += field_json[x.fields[j].field];
      out += x.fields[j].view == audit::kViewClear ? ":\"clear\"" : ":\"masked\"";
    }
    out += "},\"actions\":[";
    bool first_action = true;
    for (size_t b = 0; b < action_json.size() && b < 64; ++b) {
      if ((x.actions & (uint64_t{1} << b)) == 0) continue;
      if (!first_action) out += ',';
      first_action = false;
      out += action_json[b];
    }
    out += "],\"entries\":";
    out += std::to_string(x.entries);
    out += ",\"first\":\"";
    AppendTimeMs(out, x.first_ms);
    out += "\",\"last\":\"";
    AppendTimeMs(out, x.last_ms);
    out += "\"}";
  }
  out += "],\"categories\":";
  json::object cats;
  for (Category c : kAllCategories) {
    const CategoryCount& n = r.categories[static_cast<size_t>(c)];
    json::array fields;
    for (const auto& f : n.fields) fields.emplace_back(f);
    cats[CategoryName(c)] = json::object{{"people", n.people},
                                         {"people_clear", n.people_clear},
                                         {"records", n.records},
                                         {"fields", std::move(fields)}};
  }
  out += json::serialize(cats);
  out += '}';
  return out;
}

std::string RenderMarkdown(const BreachReport& r, const RenderOptions& o) {
  std::string md = "# Breach report: " + Who(r) + "\n\n";
  md += "Window: " + FormatTimeBound(r.query.from_ms, TimeBound::kFrom) + " to " +
        FormatTimeBound(r.query.to_ms, TimeBound::kTo) + " (UTC, inclusive). Generated " +
        Time(r.generated_ms) +
        " by coffre from the audit log alone. It lists ids, never personal values.\n\n";
  VerificationMarkdown(r, md);
  if (!r.verification.ok) return md;

  md += "## Summary\n\n";
  md += "- People whose data was returned: **" + Count(r.subjects.size()) + "** (" +
        Records(r.records);
  if (!r.collections.empty()) md += ", in `" + Join(r.collections, "`, `") + "`";
  md += ").\n";
  md += "- Requests of " + Who(r) + " in the window: " + Count(r.entries_matched) + "; " +
        Count(r.entries_exposing) + " returned personal data";
  if (!r.actions.empty()) md += " (" + Join(r.actions, ", ") + ")";
  md += "; " + Count(r.entries_denied) + " were denied and returned nothing.\n";
  if (r.canaries > 0) {
    md += "- Canary records read: **" + Count(r.canaries) +
          "** (planted people, not counted above; their ids stay in the vault). Reading them is a "
          "sign of a "
          "systematic sweep.\n";
  }
  md += "\n";
  md += "| category | people | of whom in clear | records | fields |\n|---|---:|---:|---:|---|\n";
  for (Category c : kAllCategories) {
    const CategoryCount& n = r.categories[static_cast<size_t>(c)];
    md += "| " + std::string(CategoryName(c)) + " | " + Count(n.people) + " | " +
          Count(n.people_clear) + " | " + Count(n.records) + " | " + Join(n.fields, ", ") + " |\n";
  }
  md += "\n## People exposed\n\n";
  if (r.subjects.empty()) {
    md += "None.\n\n";
  } else {
    md +=
        "| subject | collections | fields (view) | actions | requests | first | last |\n"
        "|---|---|---|---|---:|---|---|\n";
    for (const SubjectExposure& x : r.subjects) {
      md += "| `" + ToHex(x.id()) + "` | " + Join(CollectionsOf(r, x), ", ") + " | ";
      for (size_t j = 0; j < x.fields.size(); ++j) {
        if (j > 0) md += ", ";
        md += r.fields[x.fields[j].field].Name() + " (" + std::string(ViewName(x.fields[j].view)) +
              ")";
      }
      if (x.fields.empty()) md += "(id only)";
      md += " | " + Join(ActionsOf(r, x), ", ") + " | " + std::to_string(x.entries) + " | " +
            audit::FormatTimeMs(x.first_ms) + " | " + audit::FormatTimeMs(x.last_ms) + " |\n";
    }
    md += "\n";
  }
  internal::AppendNotificationDrafts(r, o, md);
  return md;
}

std::string RenderCsv(const BreachReport& r) {
  // Ids, identifiers and views: quoting (RFC 4180) is only a safeguard.
  auto cell = [](std::string& out, const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) {
      out += text;
      return;
    }
    out += '"';
    for (char ch : text) {
      if (ch == '"') out += '"';
      out += ch;
    }
    out += '"';
  };
  std::string csv = "subject,collections,fields\n";
  if (!r.verification.ok) return csv;
  csv.reserve(r.subjects.size() * 160);
  std::string fields;
  for (const SubjectExposure& x : r.subjects) {
    AppendHex(csv, x.id());
    csv += ',';
    cell(csv, Join(CollectionsOf(r, x), ";"));
    csv += ',';
    fields.clear();
    for (size_t j = 0; j < x.fields.size(); ++j) {
      if (j > 0) fields += ';';
      fields += r.fields[x.fields[j].field].Name() + "=" + std::string(ViewName(x.fields[j].view));
    }
    cell(csv, fields);
    csv += '\n';
  }
  return csv;
}

namespace internal {
void AppendTimeMs(std::string& out, int64_t ms) { report::AppendTimeMs(out, ms); }
}  // namespace internal

std::string Render(const BreachReport& r, Format f, const RenderOptions& o) {
  switch (f) {
    case Format::kJson:
      return RenderJson(r);
    case Format::kMarkdown:
      return RenderMarkdown(r, o);
    case Format::kCsv:
      return RenderCsv(r);
  }
  return {};
}

}  // namespace coffre::report
