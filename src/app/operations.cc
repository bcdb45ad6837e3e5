// The table of operations (app/operations.h): the families, merged and
// sorted by name once.
#include "app/operations.h"

#include <algorithm>

namespace coffre::app {
namespace {

using Family = std::span<const Operation> (*)();

// One line per family (a new family: its file, and a line here).
constexpr Family kFamilies[] = {
    RecordOperations, ReadOperations,       SessionOperations,   ReportOperations,
    CardOperations,   CredentialOperations, RetentionOperations, AdminOperations,
};

std::vector<const Operation*> Build() {
  std::vector<const Operation*> all;
  for (Family f : kFamilies) {
    for (const Operation& op : f()) all.push_back(&op);
  }
  std::sort(all.begin(), all.end(),
            [](const Operation* a, const Operation* b) { return a->name < b->name; });
  return all;
}

}  // namespace

const std::vector<const Operation*>& AllOperations() {
  static const std::vector<const Operation*> all = Build();
  return all;
}

const Operation* FindOperation(std::string_view name) {
  const auto& all = AllOperations();
  auto it = std::lower_bound(all.begin(), all.end(), name,
                             [](const Operation* op, std::string_view n) { return op->name < n; });
  if (it == all.end() || (*it)->name != name) return nullptr;
  return *it;
}

}  // namespace coffre::app
