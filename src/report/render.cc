#include "report/render.h"

#include <boost/json.hpp>

#include "audit/entry.h"
#include "audit/entry_json.h"
#include "common/bytes.h"
#include "common/clock.h"

namespace coffre::report {
namespace {

namespace json = boost::json;

std::string Time(int64_t ms) { return FormatRfc3339(ms / 1000); }

std::string_view ViewName(char v) { return v == audit::kViewClear ? "clear" : "masked"; }

// "1,234,567"
std::string Count(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

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

// "1 person", "12 people".
std::string People(uint64_t n) { return Count(n) + (n == 1 ? " person" : " people"); }
std::string Records(uint64_t n) { return Count(n) + (n == 1 ? " record" : " records"); }

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

// Appends `s` escaped for a JSON string (names are identifiers; escaping
// is a safeguard). No allocation: exposures are rendered by the hundred
// thousand.
void AppendEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
}

void AppendQuoted(std::string& out, std::string_view s) {
  out += '"';
  AppendEscaped(out, s);
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

std::string Account(const BreachReport& r) {
  std::string s;
  if (r.query.principal) s += "the account `" + *r.query.principal + "`";
  if (r.query.user) {
    s += r.query.principal ? " acting on behalf of the user `" : "services acting on behalf of the user `";
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
    md += ". The log has been altered; no list of people is given, because it could be "
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
    md += " No anchor file was found: checked against the given public key only; entries "
          "removed after the last checkpoint could not be detected.";
  }
  if (v.unsigned_tail > 0) {
    md += " " + Count(v.unsigned_tail) + " entries after the last checkpoint are chained but not yet signed.";
  }
  md += "\n\n";
}

void NotificationMarkdown(const BreachReport& r, const RenderOptions& o, std::string& md) {
  md += "## Draft notification to the supervisory authority (GDPR art. 33(3))\n\n";
  md += "> **DRAFT generated from the audit log. Review and complete every part marked "
        "[TO BE COMPLETED] before sending.** Notify within 72 hours of becoming aware of the "
        "breach (art. 33(1)); what is not yet known may be provided in phases (art. 33(4)).\n\n";
  const uint64_t people = r.subjects.size();
  md += "**(a) Nature of the personal data breach.** Between " + Time(r.query.from_ms) + " and " +
        Time(r.query.to_ms) + " (UTC), " + Account(r) + " received personal data from the vault " +
        "through " + Count(r.entries_exposing) + " requests (" + Join(r.actions, ", ") + ")";
  md += people == 0 ? ", exposing no one.\n" : ". If these credentials were used by someone not "
                                              "entitled to them, this is a breach of confidentiality. "
                                              "[TO BE COMPLETED: how the breach was discovered, and how "
                                              "the credentials were obtained.]\n";
  md += "\n";
  md += "- Categories of data subjects: the people whose records are kept in " +
        std::string(r.collections.size() == 1 ? "the collection " : "the collections ") +
        (r.collections.empty() ? std::string("(none)") : "`" + Join(r.collections, "`, `") + "`") +
        ". [TO BE COMPLETED: who they are, e.g. customers, patients, employees.]\n";
  md += "- Approximate number of data subjects concerned: " + Count(people) +
        " (the exact count, from the audit log).\n";
  md += "- Categories of personal data concerned:";
  bool any = false;
  for (Category c : kAllCategories) {
    const CategoryCount& n = r.categories[static_cast<size_t>(c)];
    if (n.people == 0) continue;
    any = true;
    md += "\n  - " + std::string(CategoryTitle(c)) + ": " + People(n.people) + ", " +
          Count(n.people_clear) + " of them in clear (fields: " + Join(n.fields, ", ") + ")";
  }
  md += any ? "\n" : " none beyond the fact that the people are in the vault (ids only).\n";
  md += "- Approximate number of personal data records concerned: " + Count(r.records) +
        " (one record per person and collection).\n";
  md += "- Masked values show only part of a value (for example the last four characters of an "
        "IBAN, or the first letter of an email address); people who received only masked values "
        "of a category are counted in it but not \"in clear\".\n\n";
  md += "**(b) Contact point.** ";
  md += o.contact.empty() ? "**[TO BE COMPLETED: name and contact details of the data protection "
                            "officer or other contact point]**"
                          : o.contact;
  md += "\n\n";
  md += "**(c) Likely consequences.**";
  any = false;
  for (Category c : kAllCategories) {
    if (r.categories[static_cast<size_t>(c)].people == 0) continue;
    any = true;
    md += "\n- " + std::string(CategoryName(c)) + ": " + std::string(CategoryConsequences(c)) + ".";
  }
  md += any ? "\n" : " None identified: no personal data field was returned.\n";
  md += "\n";
  md += "**(d) Measures taken or proposed.**\n";
  md += "- Taken: the audit log was verified over the window and the people concerned were "
        "identified exactly (this report, generated " + Time(r.generated_ms) + "). [TO BE "
        "COMPLETED: when the account was suspended and its credentials revoked.]\n";
  md += "- Proposed: suspend the account (`coffre principal suspend`) and replace its credentials "
        "if not done; review the role's per-person limits; tell the people concerned without undue "
        "delay when the breach is likely to result in a high risk to them (art. 34): `coffre "
        "breach-report --notify-file` produces their contact details, encrypted, once a second "
        "administrator approves.";
  if (r.categories[static_cast<size_t>(Category::kFinancial)].people_clear > 0) {
    md += " Alert the banks and card issuers concerned, and watch for fraudulent debits.";
  }
  if (r.categories[static_cast<size_t>(Category::kNationalId)].people_clear > 0) {
    md += " Advise the people concerned to watch for identity fraud.";
  }
  md += "\n";
}

}  // namespace

Result<Format> ParseFormat(std::string_view name) {
  if (name == "json") return Format::kJson;
  if (name == "md") return Format::kMarkdown;
  if (name == "csv") return Format::kCsv;
  return Fail(ErrorCode::kInvalidArgument, "format must be md, json or csv");
}

std::string_view ContentType(Format f) {
  switch (f) {
    case Format::kJson: return "application/json";
    case Format::kMarkdown: return "text/markdown; charset=utf-8";
    case Format::kCsv: return "text/csv; charset=utf-8";
  }
  return "application/octet-stream";
}

std::string RenderJson(const BreachReport& r) {
  json::object head{{"report", "coffre breach report v1"},
                    {"principal", r.query.principal ? json::value(*r.query.principal) : json::value(nullptr)},
                    {"user", r.query.user ? json::value(*r.query.user) : json::value(nullptr)},
                    {"from", Time(r.query.from_ms)},
                    {"to", Time(r.query.to_ms)},
                    {"generated_at", Time(r.generated_ms)},
                    {"verification", VerificationJson(r)}};
  std::string out = json::serialize(head);
  if (!r.verification.ok) return out;
  out.pop_back();  // '}': the large arrays are streamed, not built as values
  json::object summary{
      {"entries", json::object{{"matched", r.entries_matched},
                               {"exposing", r.entries_exposing},
                               {"denied", r.entries_denied}}},
      {"people", r.subjects.size()},
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
  md += "Window: " + Time(r.query.from_ms) + " to " + Time(r.query.to_ms) +
        " (UTC, inclusive). Generated " + Time(r.generated_ms) +
        " by coffre from the audit log alone. It lists ids, never personal values.\n\n";
  VerificationMarkdown(r, md);
  if (!r.verification.ok) return md;

  md += "## Summary\n\n";
  md += "- People whose data was returned: **" + Count(r.subjects.size()) + "** (" + Records(r.records);
  if (!r.collections.empty()) md += ", in `" + Join(r.collections, "`, `") + "`";
  md += ").\n";
  md += "- Requests of " + Who(r) + " in the window: " + Count(r.entries_matched) + "; " +
        Count(r.entries_exposing) + " returned personal data";
  if (!r.actions.empty()) md += " (" + Join(r.actions, ", ") + ")";
  md += "; " + Count(r.entries_denied) + " were denied and returned nothing.\n\n";
  md += "| category | people | of whom in clear | records | fields |\n|---|---:|---:|---:|---|\n";
  for (Category c : kAllCategories) {
    const CategoryCount& n = r.categories[static_cast<size_t>(c)];
    md += "| " + std::string(CategoryName(c)) + " | " + Count(n.people) + " | " + Count(n.people_clear) +
          " | " + Count(n.records) + " | " + Join(n.fields, ", ") + " |\n";
  }
  md += "\n## People exposed\n\n";
  if (r.subjects.empty()) {
    md += "None.\n\n";
  } else {
    md += "| subject | collections | fields (view) | actions | requests | first | last |\n"
          "|---|---|---|---|---:|---|---|\n";
    for (const SubjectExposure& x : r.subjects) {
      md += "| `" + ToHex(x.id()) + "` | " + Join(CollectionsOf(r, x), ", ") + " | ";
      for (size_t j = 0; j < x.fields.size(); ++j) {
        if (j > 0) md += ", ";
        md += r.fields[x.fields[j].field].Name() + " (" + std::string(ViewName(x.fields[j].view)) + ")";
      }
      if (x.fields.empty()) md += "(id only)";
      md += " | " + Join(ActionsOf(r, x), ", ") + " | " + std::to_string(x.entries) + " | " +
            audit::FormatTimeMs(x.first_ms) + " | " + audit::FormatTimeMs(x.last_ms) + " |\n";
    }
    md += "\n";
  }
  NotificationMarkdown(r, o, md);
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
    case Format::kJson: return RenderJson(r);
    case Format::kMarkdown: return RenderMarkdown(r, o);
    case Format::kCsv: return RenderCsv(r);
  }
  return {};
}

}  // namespace coffre::report
