// Shamir custody of the master key (docs/key-custody.md): share lines and
// their check values, the share files (sealed, 0600, all or none), the
// Unsealer's refusals (another vault, another generation, corrupt, K-1,
// duplicates), and a vault split, reopened from shares and rotated to a new
// set. No plain share is ever found in a file.
#include "vault/key_shares.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/bytes.h"
#include "crypto/key_file.h"
#include "crypto/sealed_file.h"
#include "vault/vault.h"

namespace coffre::vault {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSchema = R"(version = 1

[collections.people]
fields = [
  { name = "email", type = "email", required = true, searchable = true, unique = true },
]
)";

struct Holder {
  crypto::SecretKey secret = crypto::SecretKey::Random();
  std::string public_hex() const { return ToHex(crypto::BoxPublicKey(secret)); }
};

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Decrypt(const fs::path& file, const Holder& h) {
  std::string plain;
  Status s = crypto::OpenSealedFile(file.string(), h.secret, [&](std::string_view p) {
    plain.append(p);
    return Ok();
  });
  EXPECT_TRUE(s) << s.error().message;
  return plain;
}

class KeySharesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    tmp_ = fs::temp_directory_path() /
           ("coffre-key-shares-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_ / "out");
    std::ofstream(tmp_ / "schema.toml") << kSchema;
    out_fd_ = ::open((tmp_ / "out").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(out_fd_, 0);
  }
  void TearDown() override {
    ::close(out_fd_);
    fs::remove_all(tmp_);
  }
  std::string Dir() const { return (tmp_ / "v").string(); }
  std::string Key() const { return (tmp_ / "v.key").string(); }
  std::string InitVault() {
    auto r = Vault::Init(
        {.dir = Dir(), .schema_path = (tmp_ / "schema.toml").string(), .key_file = Key()});
    EXPECT_TRUE(r);
    return r ? r->vault_id : "";
  }
  std::vector<std::string> Recipients(const std::vector<Holder>& hs) {
    std::vector<std::string> out;
    for (const auto& h : hs) out.push_back(h.public_hex());
    return out;
  }
  // Every file under tmp_ (the vault, the out directory) as bytes.
  std::string EverythingOnDisk() {
    std::string all;
    for (const auto& e : fs::recursive_directory_iterator(tmp_)) {
      if (e.is_regular_file()) all += ReadAll(e.path());
    }
    return all;
  }

  fs::path tmp_;
  int out_fd_ = -1;
};

TEST_F(KeySharesTest, ShareLineRoundTripsAndItsCheckCatchesAnyFlip) {
  PlainShare p{.vault_id = std::string(16, '\x07'),
               .generation = 3,
               .threshold = 2,
               .count = 3,
               .share = {2, crypto::SecretKey::Random()}};
  std::string line = FormatShare(p);
  ASSERT_EQ(line.back(), '\n');
  auto back = ParseShare(line);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->vault_id, p.vault_id);
  EXPECT_EQ(back->generation, 3u);
  EXPECT_EQ(back->share.index, 2);
  EXPECT_TRUE(back->share.share.ConstantTimeEquals(p.share.share));
  // Flip each hex digit of the share and of the vault id: always refused,
  // and the message never holds the share.
  const std::string share_hex = ToHex(p.share.share.view());
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    if (line[i] == ' ') continue;
    std::string bad = line;
    bad[i] = bad[i] == '0' ? '1' : '0';
    auto r = ParseShare(bad);
    ASSERT_FALSE(r) << "flip at " << i;
    EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(r.error().message.find(share_hex.substr(0, 16)), std::string::npos);
  }
  EXPECT_FALSE(ParseShare(""));
  EXPECT_FALSE(ParseShare("coffre-master-key v1 " + share_hex));
}

// Known answer: a line made by an independent implementation of the check
// value (Python's hashlib.blake2b, digest 32, of the bytes that
// docs/key-custody.md lists; tests/fuzz/corpus/key_shares_fuzz/share.txt).
TEST_F(KeySharesTest, KnownAnswerShareLine) {
  const std::string line =
      "coffre-key-share v1 000102030405060708090a0b0c0d0e0f 1 2 2 3 "
      "0707070707070707070707070707070707070707070707070707070707070707 "
      "d05ec2079402119ef8c0797fe9bf51d70a31afc1a3d98409554494d378db9994\n";
  auto p = ParseShare(line);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(ToHex(p->vault_id), "000102030405060708090a0b0c0d0e0f");
  EXPECT_EQ(p->generation, 1u);
  EXPECT_EQ(p->share.index, 2);
  EXPECT_EQ(p->threshold, 2u);
  EXPECT_EQ(p->count, 3u);
  EXPECT_EQ(ToHex(p->share.share.view()),
            "0707070707070707070707070707070707070707070707070707070707070707");
  EXPECT_EQ(FormatShare(*p), line);
}

TEST_F(KeySharesTest, SealedShareFilesOpenOnlyForTheirHolderAndAreAllOrNone) {
  std::vector<Holder> holders(3);
  crypto::SecretKey master = crypto::SecretKey::Random();
  const std::string id(16, '\x01');
  auto sealed = SealShares(id, master, 1, 2, Recipients(holders));
  ASSERT_TRUE(sealed) << sealed.error().message;
  auto written = WriteShareFiles(out_fd_, (tmp_ / "out").string(), *sealed);
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_EQ(written->size(), 3u);
  std::vector<crypto::KeyShare> plain;
  for (size_t i = 0; i < 3; ++i) {
    struct stat st {};
    ASSERT_EQ(::stat((*written)[i].c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto p = ParseShare(Decrypt((*written)[i], holders[i]));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->share.index, i + 1);
    EXPECT_EQ(ToHex(sealed->set.checks[i]), ToHex(ShareCheck(id, 1, 2, 3, p->share)));
    std::string s(crypto::OpenSealedFile((*written)[i], holders[(i + 1) % 3].secret,
                                         [](std::string_view) { return Ok(); })
                      ? "opened"
                      : "refused");
    EXPECT_EQ(s, "refused") << "another holder's key does not open it";
    plain.push_back(std::move(p->share));
  }
  plain.pop_back();
  auto key = crypto::CombineKey(plain);
  ASSERT_TRUE(key);
  EXPECT_TRUE(key->ConstantTimeEquals(master));

  // A second write into the same directory: the first name exists, and
  // nothing of the second set is left.
  auto again = SealShares(id, master, 2, 2, Recipients(holders));
  ASSERT_TRUE(again);
  again->names[1] = sealed->names[1];  // the first is written, the second collides
  auto refused = WriteShareFiles(out_fd_, (tmp_ / "out").string(), *again);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(tmp_ / "out")) files += e.is_regular_file();
  EXPECT_EQ(files, 3u) << "the set that failed left no file";
}

TEST_F(KeySharesTest, SealSharesRefusesBadRecipientsAndThresholds) {
  std::vector<Holder> hs(3);
  crypto::SecretKey m = crypto::SecretKey::Random();
  auto r = Recipients(hs);
  EXPECT_EQ(SealShares("i", m, 1, 1, r).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(SealShares("i", m, 1, 4, r).error().code, ErrorCode::kInvalidArgument);
  auto twice = r;
  twice[2] = twice[0];
  EXPECT_EQ(SealShares("i", m, 1, 2, twice).error().code, ErrorCode::kInvalidArgument);
  auto bad = r;
  bad[1] = "zz";
  EXPECT_EQ(SealShares("i", m, 1, 2, bad).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(KeySharesTest, VaultSplitUnsealRotate) {
  const std::string id = InitVault();
  std::string master_bytes;
  {
    auto k = crypto::LoadKeyFile(Key());
    ASSERT_TRUE(k);
    master_bytes = ToHex(k->view());
  }
  std::vector<Holder> holders(5);
  std::string record_id;
  {
    auto v = Vault::Open({.dir = Dir(), .key_file = Key()});
    ASSERT_TRUE(v);
    auto put = (*v)->Put("people", {{"email", schema::Input::String("a.b@example.fr")}});
    ASSERT_TRUE(put);
    record_id = put->id;
    auto written = (*v)->SplitMasterKey(3, Recipients(holders), out_fd_, (tmp_ / "out").string());
    ASSERT_TRUE(written) << written.error().message;
    EXPECT_EQ(written->size(), 5u);
    EXPECT_FALSE(fs::exists(Key())) << "the key file is removed";
    auto set = (*v)->share_set();
    ASSERT_TRUE(set && *set);
    EXPECT_EQ((*set)->threshold, 3u);
    EXPECT_EQ((*set)->count, 5u);
    // Splitting twice is refused.
    EXPECT_EQ((*v)->SplitMasterKey(2, Recipients(holders), out_fd_, "out").error().code,
              ErrorCode::kFailedPrecondition);
  }
  // Without a key file, opening says to serve and unseal.
  auto refused = Vault::Open({.dir = Dir(), .key_file = Key()});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("coffre unseal"), std::string::npos);

  auto view = PeekSealedView(Dir(), nullptr);
  ASSERT_TRUE(view && view->share_set);
  EXPECT_EQ(view->vault_id, id);

  std::vector<std::string> lines;
  for (size_t i = 0; i < 5; ++i) {
    lines.push_back(
        Decrypt(tmp_ / "out" /
                    ("coffre-share-" + ToHex(id) + "-g1-" + std::to_string(i + 1) + "-of-5.sealed"),
                holders[i]));
  }
  // Neither the master key nor any plain share is in any file.
  const std::string disk = EverythingOnDisk();
  EXPECT_EQ(disk.find(master_bytes), std::string::npos);
  for (const auto& l : lines) {
    EXPECT_EQ(disk.find(l.substr(60, 64)), std::string::npos);
    EXPECT_EQ(disk.find("coffre-key-share v1"), std::string::npos);
  }

  Unsealer u(view->vault_id, *view->share_set);
  ASSERT_TRUE(u.Give(lines[0]));
  // The same index again is not counted.
  auto dup = u.Give(lines[0]);
  ASSERT_TRUE(dup);
  EXPECT_FALSE(*dup);
  EXPECT_EQ(u.given(), 1u);
  // A share of another vault: refused, the one given is kept.
  PlainShare foreign{.vault_id = std::string(16, '\x09'),
                     .generation = 1,
                     .threshold = 3,
                     .count = 5,
                     .share = {2, crypto::SecretKey::Random()}};
  auto other = u.Give(FormatShare(foreign));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kPermissionDenied);
  // A well-formed share of this vault whose bytes are not the recorded ones.
  PlainShare forged{.vault_id = id,
                    .generation = 1,
                    .threshold = 3,
                    .count = 5,
                    .share = {2, crypto::SecretKey::Random()}};
  EXPECT_EQ(u.Give(FormatShare(forged)).error().code, ErrorCode::kPermissionDenied);
  std::string corrupt = lines[1];
  corrupt[70] = corrupt[70] == 'a' ? 'b' : 'a';
  EXPECT_EQ(u.Give(corrupt).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(u.given(), 1u);
  ASSERT_TRUE(u.Give(lines[3]));
  EXPECT_FALSE(u.complete()) << "K-1 shares";
  EXPECT_EQ(u.Combine().error().code, ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(u.Give(lines[4]));
  ASSERT_TRUE(u.complete());
  auto master = u.Combine();
  ASSERT_TRUE(master);
  EXPECT_EQ(ToHex(master->view()), master_bytes);
  EXPECT_EQ(u.given(), 0u) << "shares dropped once combined";

  // Open with the recombined key; a wrong key is refused.
  crypto::SecretKey wrong = crypto::SecretKey::Random();
  EXPECT_EQ(Vault::Open({.dir = Dir(), .master_key = &wrong}).error().code,
            ErrorCode::kPermissionDenied);
  auto v = Vault::Open({.dir = Dir(), .master_key = &*master});
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_TRUE((*v)->Get("people", record_id));

  // Rotate to a new set for new holders: the old shares no longer unseal.
  std::vector<Holder> next(3);
  size_t rewrapped = 0;
  auto rotated = (*v)->RotateMasterKeyToShares(2, Recipients(next), out_fd_,
                                               (tmp_ / "out").string(), &rewrapped);
  ASSERT_TRUE(rotated) << rotated.error().message;
  EXPECT_GT(rewrapped, 0u);
  ASSERT_TRUE((*v)->Get("people", record_id));
  v->reset();
  auto view2 = PeekSealedView(Dir(), nullptr);
  ASSERT_TRUE(view2 && view2->share_set);
  EXPECT_EQ(view2->share_set->generation, 2u);
  Unsealer u2(id, *view2->share_set);
  EXPECT_EQ(u2.Give(lines[0]).error().code, ErrorCode::kPermissionDenied) << "old generation";
  ASSERT_TRUE(u2.Give(Decrypt((*rotated)[0], next[0])));
  ASSERT_TRUE(u2.Give(Decrypt((*rotated)[2], next[2])));
  auto master2 = u2.Combine();
  ASSERT_TRUE(master2);
  EXPECT_NE(ToHex(master2->view()), master_bytes);
  EXPECT_FALSE(Vault::Open({.dir = Dir(), .master_key = &*master}));
  auto v2 = Vault::Open({.dir = Dir(), .master_key = &*master2});
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_TRUE((*v2)->Get("people", record_id));
}

}  // namespace
}  // namespace coffre::vault
