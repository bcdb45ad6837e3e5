// ADR 0025: modules reach the store through a SpaceHandle on their own
// spaces and get their keys from the composition root; none calls the
// vault's store() or keyring(). Those stay for the vault's own parts
// (src/vault), the composition root (src/app) and tests. This test reads
// the sources: a call that slips in elsewhere fails here, naming the file.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

bool Allowed(const fs::path& rel) {
  const std::string s = rel.generic_string();
  const std::string name = rel.filename().string();
  return s.starts_with("vault/") || s.starts_with("app/") || name.ends_with("_test.cc") ||
         name.ends_with("_fuzz.cc");
}

// The offending lines of `text`, comments left out.
std::vector<std::string> Offending(const std::string& text) {
  static const std::regex kCall(R"((\.|->)(store|keyring)\(\))");
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (size_t c = line.find("//"); c != std::string::npos) line.resize(c);
    if (std::regex_search(line, kCall)) out.push_back(line);
    start = end + 1;
  }
  return out;
}

TEST(ModuleSeamsTest, TheDetectorFindsCallsAndSkipsComments) {
  EXPECT_EQ(Offending("auto& s = vault.store();\n").size(), 1u);
  EXPECT_EQ(Offending("x(rt->vault().keyring().pepper());\n").size(), 1u);
  EXPECT_TRUE(Offending("// vault.store() in a comment\nint store = 1;\n").empty());
  EXPECT_TRUE(Offending("log.reader(); restore(); h.keyring_id();\n").empty());
}

TEST(ModuleSeamsTest, NoModuleReachesIntoTheVaultsStoreOrKeyring) {
  const fs::path src = fs::path(COFFRE_SOURCE_DIR) / "src";
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    const std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
    ++files;
    const fs::path rel = fs::relative(e.path(), src);
    if (Allowed(rel)) continue;
    std::ifstream in(e.path());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const std::string& line : Offending(text)) {
      ADD_FAILURE() << rel.generic_string() << ": " << line
                    << "\n  modules get a SpaceHandle and their keys from src/app/runtime.cc "
                       "(docs/adr/0025-store-seam-and-module-handles.md)";
    }
  }
  EXPECT_GT(files, 100u) << "the source tree was not found";
}

}  // namespace
