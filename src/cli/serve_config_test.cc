// The serve config file: its parser names the line and column of every
// error, refuses what it does not know, and hands values to serve's own
// options, where a flag given on the command line wins.
#include "cli/serve_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/serve_command.h"
#include "test_util.h"

namespace coffre::cli {
namespace {

using coffre::testing::TempDir;
using coffre::testing::WriteFileOrDie;

ServeConfig Parse(const std::string& text, std::vector<std::string>& errors) {
  return ParseServeConfig(text, "f.toml", "/etc/coffre", errors);
}

const ConfigValue* Find(const ServeConfig& c, std::string_view path) {
  for (const ConfigValue& v : c.values) {
    if (v.key->path == path) return &v;
  }
  return nullptr;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

constexpr char kGood[] = R"(# a comment
listen = "127.0.0.1:9443"
audit_anchor = "/var/lib/coffre/people.audit-anchor"
erasure_journal = "journal/people.erasures"

[key]
file = "people.key"
pkcs11 = "pkcs11:token=coffre;object=master?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/coffre/people.pin"

[limits]
max_connections = 1000
max_connections_per_source = 50

[proxy]
trusted = ["10.0.0.2/32", "2001:db8::/32"]
protocol = true

[webhook]
url = "https://alerts.example.org/coffre"
ca = "/etc/ssl/certs/ca-certificates.crt"

[metrics]
listen = "127.0.0.1:9464"

[tls]
cert = "/etc/letsencrypt/live/vault.example.org/fullchain.pem"
key = "/etc/letsencrypt/live/vault.example.org/privkey.pem"
client_ca = "clients-ca.pem"

[log]
format = "json"
level = "warn"
access = "off"
)";

TEST(ServeConfigParse, GoodFileGivesEveryValueAsItsFlagTakesIt) {
  std::vector<std::string> errors;
  ServeConfig c = Parse(kGood, errors);
  EXPECT_TRUE(errors.empty()) << Joined(errors);
  ASSERT_EQ(c.values.size(), ServeConfigKeys().size());
  EXPECT_EQ(Find(c, "listen")->args, std::vector<std::string>{"127.0.0.1:9443"});
  EXPECT_EQ(Find(c, "listen")->where, "f.toml:2:10");
  // Relative paths: to the config file's directory; absolute ones as given.
  EXPECT_EQ(Find(c, "key.file")->args, std::vector<std::string>{"/etc/coffre/people.key"});
  EXPECT_EQ(Find(c, "erasure_journal")->args,
            std::vector<std::string>{"/etc/coffre/journal/people.erasures"});
  EXPECT_EQ(Find(c, "audit_anchor")->args,
            std::vector<std::string>{"/var/lib/coffre/people.audit-anchor"});
  EXPECT_EQ(Find(c, "limits.max_connections")->args, std::vector<std::string>{"1000"});
  EXPECT_EQ(Find(c, "proxy.trusted")->args,
            (std::vector<std::string>{"10.0.0.2/32", "2001:db8::/32"}));
  EXPECT_EQ(Find(c, "proxy.protocol")->args, std::vector<std::string>{"true"});
  EXPECT_EQ(Find(c, "key.file")->key->flag, "--key-file");
  EXPECT_EQ(Find(c, "metrics.listen")->args, std::vector<std::string>{"127.0.0.1:9464"});
  EXPECT_EQ(Find(c, "metrics.listen")->key->flag, "--metrics-listen");
}

TEST(ServeConfigParse, AnEmptyFileIsValidAndSetsNothing) {
  std::vector<std::string> errors;
  ServeConfig c = Parse("# nothing here\n", errors);
  EXPECT_TRUE(errors.empty()) << Joined(errors);
  EXPECT_TRUE(c.values.empty());
}

// Each kind of error, with its exact line and column.
struct BadCase {
  const char* name;
  const char* text;
  const char* error;  // the whole message
};

const BadCase kBad[] = {
    {"unknown top-level key", "listen = \"127.0.0.1:1\"\n\nlisten_address = \"0.0.0.0:1\"\n",
     "f.toml:3:1: key 'listen_address': unknown key (allowed at the top: listen, audit_anchor, "
     "erasure_journal, key, limits, proxy, webhook, metrics, tls, log)"},
    {"typo in a table", "[proxy]\nprotocol = true\ntrustd = [\"10.0.0.2\"]\n",
     "f.toml:3:1: key 'proxy.trustd': unknown key (allowed in [proxy]: trusted, protocol)"},
    {"unknown table", "listen = \"127.0.0.1:1\"\n[tsl]\ncert = \"a.pem\"\n",
     "f.toml:2:2: key 'tsl': unknown key (allowed at the top: listen, audit_anchor, "
     "erasure_journal, key, limits, proxy, webhook, metrics, tls, log)"},
    {"dotted key", "limits.max_conections = 5\n",
     "f.toml:1:8: key 'limits.max_conections': unknown key (allowed in [limits]: "
     "max_connections, max_connections_per_source)"},
    {"integer as string", "[limits]\n\nmax_connections = \"100\"\n",
     "f.toml:3:19: key 'limits.max_connections': expected an integer, found a string"},
    {"bool as string", "[proxy]\nprotocol = \"false\"\n",
     "f.toml:2:12: key 'proxy.protocol': expected true or false, found a string"},
    {"float for integer", "[limits]\nmax_connections = 1.5\n",
     "f.toml:2:19: key 'limits.max_connections': expected an integer, found a float"},
    {"string for list", "[proxy]\ntrusted = \"10.0.0.2\"\n",
     "f.toml:2:11: key 'proxy.trusted': expected an array of strings, found a string"},
    {"list element", "[proxy]\ntrusted = [\n  \"10.0.0.2\",\n  7,\n]\n",
     "f.toml:4:3: key 'proxy.trusted': expected an array of strings, found an integer"},
    {"table as value", "limits = 5\n",
     "f.toml:1:10: key 'limits': must be a table ([limits]), not an integer"},
    {"value as table", "[listen]\nhost = \"x\"\n",
     "f.toml:1:1: key 'listen': expected a string, found a table"},
    {"empty string", "[key]\nfile = \"\"\n",
     "f.toml:2:8: key 'key.file': must not be empty (leave the key out for the default)"},
    {"terminal escape in a quoted key", "\"x\\u001b[2J\" = 1\n",
     "f.toml:1:1: key 'x?[2J': unknown key (allowed at the top: listen, audit_anchor, "
     "erasure_journal, key, limits, proxy, webhook, metrics, tls, log)"},
    {"syntax", "listen = \"127.0.0.1:1\"\n[limits\n", nullptr},
};

TEST(ServeConfigParse, EachErrorNamesFileLineColumnAndKey) {
  for (const BadCase& b : kBad) {
    std::vector<std::string> errors;
    ServeConfig c = Parse(b.text, errors);
    ASSERT_EQ(errors.size(), 1u) << b.name << "\n" << Joined(errors);
    if (b.error != nullptr) {
      EXPECT_EQ(errors[0], b.error) << b.name;
    } else {
      EXPECT_EQ(errors[0].rfind("f.toml:2:", 0), 0u) << errors[0];
      EXPECT_NE(errors[0].find("TOML syntax error"), std::string::npos) << errors[0];
    }
  }
}

TEST(ServeConfigParse, EveryErrorIsReportedNotOnlyTheFirst) {
  std::vector<std::string> errors;
  ServeConfig c = Parse(
      "lisen = \"127.0.0.1:1\"\n"  // 1
      "[limits]\n"                 // 2
      "max_connections = \"9\"\n"  // 3
      "max_connections_per_source = 3\n"
      "[webhook]\n"  // 5
      "url = 5\n"    // 6
      "ca = \"ca.pem\"\n",
      errors);
  ASSERT_EQ(errors.size(), 3u) << Joined(errors);
  EXPECT_EQ(errors[0].rfind("f.toml:1:1: key 'lisen'", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind("f.toml:3:19: key 'limits.max_connections'", 0), 0u) << errors[1];
  EXPECT_EQ(errors[2].rfind("f.toml:6:7: key 'webhook.url'", 0), 0u) << errors[2];
  // The good values are still read (config check goes on to check them).
  EXPECT_NE(Find(c, "limits.max_connections_per_source"), nullptr);
  EXPECT_EQ(Find(c, "webhook.ca")->args, std::vector<std::string>{"/etc/coffre/ca.pem"});
}

// The table names real serve flags, each once, each TOML path once.
TEST(ServeConfigKeys, EveryKeyStandsForAnOptionOfServe) {
  CLI::App app;
  Context ctx;
  RegisterServeCommand(app, ctx);
  CLI::App* serve = app.get_subcommand("serve");
  std::set<std::string_view> paths, flags;
  for (const ConfigKey& k : ServeConfigKeys()) {
    EXPECT_NE(serve->get_option_no_throw(std::string(k.flag)), nullptr) << k.path;
    EXPECT_TRUE(paths.insert(k.path).second) << "twice: " << k.path;
    EXPECT_TRUE(flags.insert(k.flag).second) << "twice: " << k.flag;
    EXPECT_FALSE(k.doc.empty()) << k.path;
  }
}

// What ApplyServeConfig leaves in serve's options, after the command line
// `argv` was parsed.
struct Applied {
  std::vector<std::string> errors;
  std::unique_ptr<CLI::App> app = std::make_unique<CLI::App>();
  Context ctx;
  CLI::App* serve = nullptr;
  std::string Get(const std::string& flag) { return serve->get_option(flag)->as<std::string>(); }
};

// `given`: flags as the command line gives them ({"--listen", "ADDR"}),
// set the way CLI11's parse sets them (the serve callback is not run).
std::unique_ptr<Applied> Apply(const std::string& text,
                               const std::vector<std::pair<std::string, std::string>>& given) {
  auto a = std::make_unique<Applied>();
  RegisterServeCommand(*a->app, a->ctx);
  a->serve = a->app->get_subcommand("serve");
  for (const auto& [flag, value] : given) {
    CLI::Option* opt = a->serve->get_option(flag);
    opt->add_result(value);
    opt->run_callback();
  }
  ServeConfig c = ParseServeConfig(text, "f.toml", "/etc/coffre", a->errors);
  (void)ApplyServeConfig(c, *a->serve, a->errors);
  return a;
}

TEST(ServeConfigApply, AFlagOnTheCommandLineWinsOverTheFile) {
  auto a = Apply(kGood, {{"--listen", "127.0.0.1:7000"}, {"--max-connections", "12"}});
  EXPECT_TRUE(a->errors.empty()) << Joined(a->errors);
  EXPECT_EQ(a->Get("--listen"), "127.0.0.1:7000");
  EXPECT_EQ(a->serve->get_option("--max-connections")->as<size_t>(), 12u);
  // The others come from the file.
  EXPECT_EQ(a->serve->get_option("--max-connections-per-source")->as<size_t>(), 50u);
  EXPECT_EQ(a->Get("--key-file"), "/etc/coffre/people.key");
  EXPECT_EQ(a->Get("--alert-webhook"), "https://alerts.example.org/coffre");
  EXPECT_TRUE(a->serve->get_option("--proxy-protocol")->as<bool>());
  EXPECT_EQ(a->serve->get_option("--trusted-proxy")->as<std::vector<std::string>>(),
            (std::vector<std::string>{"10.0.0.2/32", "2001:db8::/32"}));
}

TEST(ServeConfigApply, FalseStaysFalseAndRangesAreTheFlags) {
  auto a = Apply("[proxy]\nprotocol = false\n", {});
  EXPECT_TRUE(a->errors.empty()) << Joined(a->errors);
  EXPECT_FALSE(a->serve->get_option("--proxy-protocol")->as<bool>());

  auto b = Apply("[limits]\nmax_connections = 0\nmax_connections_per_source = -3\n", {});
  ASSERT_EQ(b->errors.size(), 2u) << Joined(b->errors);
  EXPECT_EQ(b->errors[0].rfind("f.toml:2:19: key 'limits.max_connections': ", 0), 0u)
      << b->errors[0];
  EXPECT_EQ(b->errors[1].rfind("f.toml:3:30: key 'limits.max_connections_per_source': ", 0), 0u)
      << b->errors[1];
}

class ServeConfigCheck : public ::testing::Test {
 protected:
  std::vector<std::string> Check(const std::string& text) {
    std::vector<std::string> errors;
    ServeConfig c = ParseServeConfig(text, "f.toml", dir_.path(), errors);
    EXPECT_TRUE(errors.empty()) << Joined(errors);
    CheckServeConfig(c, errors);
    return errors;
  }
  void Write(const std::string& name, mode_t mode) {
    WriteFileOrDie(dir_ / name, "x\n");
    ASSERT_EQ(::chmod((dir_ / name).c_str(), mode), 0);
  }
  TempDir dir_;
};

TEST_F(ServeConfigCheck, GoodValuesPass) {
  Write("people.key", 0600);
  Write("ca.pem", 0644);
  EXPECT_EQ(Joined(Check("listen = \"[::1]:8443\"\naudit_anchor = \"people.audit-anchor\"\n"
                         "[key]\nfile = \"people.key\"\n[proxy]\ntrusted = [\"10.0.0.2\", "
                         "\"fd00::/8\"]\n[webhook]\nurl = \"http://127.0.0.1:9000/hook\"\n"
                         "ca = \"ca.pem\"\n")),
            "");
}

TEST_F(ServeConfigCheck, EachBadValueNamesItsLine) {
  Write("people.key", 0640);
  Write("ca.pem", 0644);
  std::vector<std::string> errors = Check(
      "listen = \"127.0.0.1\"\n"                 // 1: no port
      "audit_anchor = \"no/such/dir/anchor\"\n"  // 2
      "[key]\n"                                  // 3
      "file = \"people.key\"\n"                  // 4: mode 0640
      "[proxy]\n"                                // 5
      "trusted = [\"10.0.0.0/33\"]\n"            // 6
      "[webhook]\n"                              // 7
      "url = \"http://alerts.example.org/\"\n"   // 8: http to a remote host
      "ca = \"missing.pem\"\n");                 // 9
  ASSERT_EQ(errors.size(), 6u) << Joined(errors);
  EXPECT_EQ(errors[0].rfind("f.toml:1:10: key 'listen': expected ADDRESS:PORT", 0), 0u);
  EXPECT_EQ(errors[1].rfind("f.toml:2:16: key 'audit_anchor': directory ", 0), 0u) << errors[1];
  EXPECT_EQ(errors[2].rfind("f.toml:4:8: key 'key.file': ", 0), 0u) << errors[2];
  EXPECT_NE(errors[2].find("mode 0640"), std::string::npos) << errors[2];
  EXPECT_EQ(errors[3].rfind("f.toml:6:11: key 'proxy.trusted': '10.0.0.0/33'", 0), 0u) << errors[3];
  EXPECT_EQ(errors[4].rfind("f.toml:8:7: key 'webhook.url': ", 0), 0u) << errors[4];
  EXPECT_EQ(errors[5].rfind("f.toml:9:6: key 'webhook.ca': cannot open ", 0), 0u) << errors[5];
}

TEST_F(ServeConfigCheck, AKeyFileThatIsADirectoryOrMissingIsRefused) {
  ASSERT_EQ(::mkdir((dir_ / "k").c_str(), 0700), 0);
  std::vector<std::string> errors = Check("[key]\nfile = \"k\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("not a regular file"), std::string::npos) << errors[0];
  errors = Check("[key]\nfile = \"absent.key\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("No such file"), std::string::npos) << errors[0];
}

class ServeConfigLoad : public ::testing::Test {
 protected:
  std::vector<std::string> Load(mode_t mode) {
    WriteFileOrDie(path_, "listen = \"127.0.0.1:1\"\n");
    EXPECT_EQ(::chmod(path_.c_str(), mode), 0);
    std::vector<std::string> errors;
    ServeConfig c = LoadServeConfig(path_, errors);
    if (errors.empty()) EXPECT_EQ(c.values.size(), 1u);
    return errors;
  }
  TempDir dir_;
  std::string path_ = dir_ / "people.toml";
};

TEST_F(ServeConfigLoad, ReadableByTheServiceGroupIsFine) {
  EXPECT_EQ(Joined(Load(0640)), "");
  EXPECT_EQ(Joined(Load(0644)), "");
}

TEST_F(ServeConfigLoad, WritableByGroupOrOthersIsRefused) {
  for (mode_t mode : {0660, 0602, 0666}) {
    std::vector<std::string> errors = Load(mode);
    ASSERT_EQ(errors.size(), 1u) << mode;
    EXPECT_EQ(errors[0], path_ +
                             ": the config file is writable by group or others: whoever can "
                             "write it chooses the key file, the trusted proxies and where "
                             "alerts go (chmod go-w)");
  }
}

TEST_F(ServeConfigLoad, OwnedBySomeoneElseIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file away";
  WriteFileOrDie(path_, "listen = \"127.0.0.1:1\"\n");
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  ASSERT_EQ(::chown(path_.c_str(), 4242, 4242), 0);
  std::vector<std::string> errors;
  (void)LoadServeConfig(path_, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("must be owned by root or by the user coffre runs as"),
            std::string::npos)
      << errors[0];
}

TEST_F(ServeConfigLoad, MissingFileAndRelativePathsFromItsDirectory) {
  std::vector<std::string> errors;
  (void)LoadServeConfig(dir_ / "absent.toml", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("cannot open the config file"), std::string::npos) << errors[0];

  WriteFileOrDie(path_, "[key]\nfile = \"../x/people.key\"\n");
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  errors.clear();
  ServeConfig c = LoadServeConfig(path_, errors);
  ASSERT_TRUE(errors.empty()) << Joined(errors);
  ASSERT_EQ(c.values.size(), 1u);
  EXPECT_EQ(c.values[0].args[0],
            std::filesystem::path(dir_.path()).parent_path().string() + "/x/people.key");
  EXPECT_EQ(c.values[0].where, path_ + ":2:8");
}

}  // namespace
}  // namespace coffre::cli
