// The notification drafts of a breach report's Markdown, in English and in
// French: to the supervisory authority (GDPR art. 33(3); in France the
// CNIL) and to the people concerned (art. 34). Internal to src/report
// (render.cc); the texts are reviewed by a person before anything is sent,
// and every part the audit log cannot know is marked to be completed.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "report/breach_report.h"
#include "report/render.h"

namespace coffre::report::internal {

// Appends the drafts (or, when no one was exposed, why there is nothing to
// notify) to `md`.
void AppendNotificationDrafts(const BreachReport& r, const RenderOptions& o, std::string& md);

// "1,234,567"
std::string Count(uint64_t n);

// The items with `sep` between them.
std::string Join(const std::vector<std::string>& items, std::string_view sep);

}  // namespace coffre::report::internal
