#include "gen/names.h"

#include <algorithm>

#include "gen/internal/french_data.h"

namespace coffre::gen {

std::vector<std::string_view> Names() {
  const std::span<const std::string_view> lists[] = {
      internal::FemaleFirstNames(), internal::MaleFirstNames(), internal::LastNames()};
  size_t longest = 0;
  for (auto list : lists) longest = std::max(longest, list.size());
  std::vector<std::string_view> out;
  for (size_t i = 0; i < longest; ++i) {
    for (auto list : lists) {
      if (i < list.size()) out.push_back(list[i]);
    }
  }
  return out;
}

}  // namespace coffre::gen
