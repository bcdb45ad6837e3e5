// The command line describes itself (issue 13, item 9; ADR 0022): every
// command, and every command added later, explains each positional argument
// and shows examples in its --help; `coffre --help` names every environment
// variable the code reads; `coffre --version` prints coffre's version, its
// on-disk formats and its libraries' versions.
//
// The command tree is the one RegisterCommands builds, walked in process, so
// that a new subcommand is held to the rule without editing this test; its
// --help is then read from the real binary.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <rocksdb/version.h>
#include <sodium.h>
#include <spdlog/version.h>
#include <toml++/impl/version.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/version.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "audit/format_version.h"
#include "cli/commands.h"
#include "cli/serve_command.h"
#include "cli_runner.h"
#include "vault/format_version.h"

namespace coffre::testing {
namespace {

namespace fs = std::filesystem;

struct Command {
  std::vector<std::string> path;  // e.g. {"principal", "add"}
  const CLI::App* app;
};

std::string Joined(const std::vector<std::string>& path) {
  std::string s = "coffre";
  for (const auto& p : path) s += " " + p;
  return s;
}

void Walk(CLI::App* app, std::vector<std::string> path, std::vector<Command>& out) {
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    std::vector<std::string> p = path;
    p.push_back(sub->get_name());
    out.push_back({p, sub});
    Walk(sub, p, out);
  }
}

class CliHelpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new CLI::App("coffre");
    ctx_ = new cli::Context();
    cli::RegisterCommands(*root_, *ctx_);
    cli::RegisterServeCommand(*root_, *ctx_);
    commands_ = new std::vector<Command>();
    Walk(root_, {}, *commands_);
  }
  static void TearDownTestSuite() {
    delete commands_;
    delete root_;
    delete ctx_;
  }
  static CLI::App* root_;
  static cli::Context* ctx_;
  static std::vector<Command>* commands_;
};

CLI::App* CliHelpTest::root_ = nullptr;
cli::Context* CliHelpTest::ctx_ = nullptr;
std::vector<Command>* CliHelpTest::commands_ = nullptr;

TEST_F(CliHelpTest, TheWalkSeesEveryKnownCommand) {
  std::set<std::string> seen;
  for (const Command& c : *commands_) seen.insert(Joined(c.path));
  for (const char* known :
       {"coffre put", "coffre find", "coffre principal add", "coffre audit verify",
        "coffre retention hold", "coffre cards sweep", "coffre decrypt", "coffre join"}) {
    EXPECT_TRUE(seen.count(known)) << known;
  }
}

TEST_F(CliHelpTest, EveryPositionalIsDescribed) {
  for (const Command& c : *commands_) {
    for (const CLI::Option* opt : c.app->get_options([](const CLI::Option*) { return true; })) {
      if (!opt->get_positional()) continue;
      EXPECT_FALSE(opt->get_description().empty())
          << Joined(c.path) << ": positional " << opt->get_name() << " has no description";
    }
  }
}

TEST_F(CliHelpTest, EveryCommandHasItsOwnExamples) {
  for (const Command& c : *commands_) {
    const std::string footer = c.app->get_footer();
    size_t at = footer.find("Examples:\n");
    ASSERT_NE(at, std::string::npos) << Joined(c.path) << " has no Examples section";
    // At least one example runs this very command (not an inherited one).
    EXPECT_NE(footer.find(Joined(c.path) + " ", at), std::string::npos)
        << Joined(c.path) << ": no example runs it";
  }
}

// The binary prints what the tree holds: each command's --help exits 0,
// describes every positional and ends with its examples.
TEST_F(CliHelpTest, EveryHelpPrintsDescriptionsAndExamples) {
  for (const Command& c : *commands_) {
    std::vector<std::string> args = c.path;
    args.push_back("--help");
    CliResult r = RunCoffre(args);
    ASSERT_EQ(r.exit_code, kExitOk) << Joined(c.path) << " --help: " << r.err;
    size_t examples = r.out.find("\nExamples:\n  ");
    ASSERT_NE(examples, std::string::npos) << Joined(c.path) << " --help shows no examples";
    EXPECT_NE(r.out.find(Joined(c.path) + " ", examples), std::string::npos)
        << Joined(c.path) << " --help shows no example of itself";
    for (const CLI::Option* opt : c.app->get_options([](const CLI::Option*) { return true; })) {
      if (!opt->get_positional()) continue;
      std::regex line("\\n +" + opt->get_name() + " [^\\n]*" +
                      std::regex_replace(opt->get_description().substr(0, 20),
                                         std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)"));
      EXPECT_TRUE(std::regex_search(r.out, line))
          << Joined(c.path) << " --help does not describe " << opt->get_name();
    }
  }
}

// Every variable the code reads (getenv("NAME") under src/) is named in
// `coffre --help`, so a variable added later must be documented there.
TEST_F(CliHelpTest, RootHelpNamesEveryEnvironmentVariable) {
  std::set<std::string> names;
  const std::regex getenv_call(R"(getenv\("([A-Za-z_][A-Za-z0-9_]*)\"\))");
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(COFFRE_SOURCE_DIR) / "src")) {
    const std::string file = entry.path().string();
    if (!entry.is_regular_file() || file.ends_with("_test.cc")) continue;
    if (!file.ends_with(".cc") && !file.ends_with(".h")) continue;
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), getenv_call), end; it != end; ++it) {
      names.insert((*it)[1].str());
    }
  }
  ASSERT_TRUE(names.count("COFFRE_KEY_FILE"))
      << "the scan found nothing: is COFFRE_SOURCE_DIR right?";
  CliResult r = RunCoffre({"--help"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  for (const std::string& name : names) {
    EXPECT_NE(r.out.find("\n  " + name + " "), std::string::npos)
        << "coffre --help does not name " << name;
  }
  EXPECT_NE(r.out.find("Exit codes:"), std::string::npos);
  EXPECT_NE(r.out.find("Examples:\n  coffre "), std::string::npos);
  // The root's footer is its own: no subcommand repeats it.
  CliResult sub = RunCoffre({"get", "--help"});
  EXPECT_EQ(sub.out.find("Environment:"), std::string::npos);
}

// A cluster (ADR 0040): init names --store and where the password comes
// from; join says what a wrong key and a database without a vault do.
TEST_F(CliHelpTest, InitAndJoinDescribeTheClusterStore) {
  CliResult init = RunCoffre({"init", "--help"});
  ASSERT_EQ(init.exit_code, kExitOk) << init.err;
  EXPECT_NE(init.out.find("--store"), std::string::npos);
  EXPECT_NE(init.out.find("PGPASSFILE"), std::string::npos);
  EXPECT_NE(init.out.find("coffre init /var/lib/coffre/node1 --store postgresql://"),
            std::string::npos);
  CliResult join = RunCoffre({"join", "--help"});
  ASSERT_EQ(join.exit_code, kExitOk) << join.err;
  EXPECT_NE(join.out.find("--store"), std::string::npos);
  EXPECT_NE(join.out.find("exits 5"), std::string::npos);
  EXPECT_NE(join.out.find("exits 3"), std::string::npos);
  CliResult root = RunCoffre({"--help"});
  EXPECT_NE(root.out.find("\n  PGPASSFILE "), std::string::npos);
}

TEST_F(CliHelpTest, VersionPrintsFormatsAndLibraries) {
  CliResult r = RunCoffre({"--version"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  std::vector<std::string> lines = r.OutLines();
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(std::regex_match(lines[0], std::regex(R"(coffre [0-9]+\.[0-9]+\.[0-9]+)")))
      << lines[0];
  auto has = [&](const std::string& want) {
    return std::find(lines.begin(), lines.end(), want) != lines.end();
  };
  EXPECT_TRUE(has("vault format " + std::to_string(vault::kFormatVersion))) << r.out;
  EXPECT_TRUE(has("audit log format " + std::to_string(audit::kEntryFormatVersion))) << r.out;
  EXPECT_TRUE(has("erasure journal format " + std::to_string(vault::kErasureJournalFormatVersion)))
      << r.out;
  // The libraries the binary runs with: the same as this test process's.
  EXPECT_TRUE(has(OpenSSL_version(OPENSSL_VERSION))) << r.out;
  EXPECT_TRUE(has(std::string("libsodium ") + sodium_version_string())) << r.out;
  EXPECT_TRUE(has("RocksDB " + rocksdb::GetRocksVersionAsString())) << r.out;
  EXPECT_TRUE(has("Boost " + std::to_string(BOOST_VERSION / 100000) + "." +
                  std::to_string(BOOST_VERSION / 100 % 1000) + "." +
                  std::to_string(BOOST_VERSION % 100)))
      << r.out;
  EXPECT_TRUE(has("spdlog " + std::to_string(SPDLOG_VER_MAJOR) + "." +
                  std::to_string(SPDLOG_VER_MINOR) + "." + std::to_string(SPDLOG_VER_PATCH)))
      << r.out;
  EXPECT_TRUE(has("fmt " + std::to_string(FMT_VERSION / 10000) + "." +
                  std::to_string(FMT_VERSION / 100 % 100) + "." +
                  std::to_string(FMT_VERSION % 100)))
      << r.out;
  EXPECT_TRUE(has("toml++ " + std::to_string(TOML_LIB_MAJOR) + "." +
                  std::to_string(TOML_LIB_MINOR) + "." + std::to_string(TOML_LIB_PATCH)))
      << r.out;
  EXPECT_EQ(lines.size(), 11u) << r.out;
  EXPECT_EQ(r.err, "");
}

}  // namespace
}  // namespace coffre::testing
