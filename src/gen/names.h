// The first and last names `coffre gen` draws people from, as words that a
// password must not be built on (auth's password policy gives them to
// zxcvbn). Common French names: a cracker's French list has them too.
//
//   for (std::string_view name : gen::Names()) ...  // "Marie", "Jean", "Martin", "Jeanne" ...
//
// Thread-safety: the names are constant; safe from any thread.
#pragma once

#include <string_view>
#include <vector>

namespace coffre::gen {

// Every first and last name, as people write them (accents, compound names
// with '-'), the commonest first: one female first name, one male first
// name, one last name, and again, down the generator's lists. Some appear
// twice (Marie is a first and a last name).
std::vector<std::string_view> Names();

}  // namespace coffre::gen
