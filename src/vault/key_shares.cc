#include "vault/key_shares.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/bytes.h"
#include "crypto/sealed_file.h"
#include "vault/internal/layout.h"

namespace coffre::vault {
namespace {

using storage::Space;

constexpr std::string_view kSetMagic = "coffre-key-shares";
constexpr std::string_view kShareMagic = "coffre-key-share";
constexpr std::string_view kVersion = "v1";
constexpr std::string_view kCheckContext = "coffre.share.v1";

std::vector<std::string_view> Words(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(' ', i);
    if (j == std::string_view::npos) j = text.size();
    out.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// A decimal in [lo, hi]; nullopt otherwise (no sign, no leading zero).
std::optional<uint32_t> Number(std::string_view s, uint32_t lo, uint32_t hi) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v < lo || v > hi) return std::nullopt;
  return static_cast<uint32_t>(v);
}

void AppendU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Wipes a string holding a share when it goes.
struct WipedString {
  std::string s;
  ~WipedString() { crypto::Wipe(s.data(), s.size()); }
};

Status WriteAllFd(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(ErrorCode::kIoError, std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

Result<std::string> ReadBackFd(int dir_fd, const std::string& name, size_t expect) {
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Fail(ErrorCode::kIoError, std::strerror(errno));
  std::string out(expect + 1, '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

}  // namespace

std::string EncodeShareSet(const ShareSet& set) {
  std::string out(kSetMagic);
  out += ' ';
  out += kVersion;
  out += ' ' + std::to_string(set.generation) + ' ' + std::to_string(set.threshold) + ' ' +
         std::to_string(set.count);
  for (const std::string& c : set.checks) out += ' ' + ToHex(c);
  return out;
}

Result<ShareSet> DecodeShareSet(std::string_view text) {
  const Error bad{ErrorCode::kDataLoss, "the vault's share set (meta key_shares) does not parse"};
  auto w = Words(text);
  if (w.size() < 5 || w[0] != kSetMagic || w[1] != kVersion) return Fail(bad);
  ShareSet set;
  auto gen = Number(w[2], 1, UINT32_MAX);
  auto k = Number(w[3], 2, crypto::kMaxShares);
  auto n = Number(w[4], 2, crypto::kMaxShares);
  if (!gen || !k || !n || *k > *n || w.size() != 5 + *n) return Fail(bad);
  set.generation = *gen;
  set.threshold = *k;
  set.count = *n;
  for (size_t i = 5; i < w.size(); ++i) {
    auto c = FromHex(w[i]);
    if (!c || c->size() != crypto::kBlindBytes) return Fail(bad);
    set.checks.push_back(std::move(*c));
  }
  return set;
}

Result<std::optional<ShareSet>> ReadShareSet(storage::Store& store) {
  COFFRE_ASSIGN_OR_RETURN(auto v, store.Get(Space::kMeta, kMetaKeyShares));
  if (!v) return std::optional<ShareSet>();
  COFFRE_ASSIGN_OR_RETURN(ShareSet set, DecodeShareSet(*v));
  return std::optional<ShareSet>(std::move(set));
}

Result<SealedView> PeekSealedView(const std::string& dir, const storage::StoreOpener& opener,
                                  const std::vector<std::string_view>& config_names) {
  COFFRE_ASSIGN_OR_RETURN(auto store,
                          opener ? opener({.path = dir, .read_only = true})
                                 : storage::OpenRocksStore({.path = dir, .read_only = true}));
  SealedView view;
  COFFRE_ASSIGN_OR_RETURN(auto id, store->Get(Space::kMeta, layout::kMetaVaultId));
  if (!id)
    return Fail(ErrorCode::kFailedPrecondition, "the directory is not an initialised coffre vault");
  view.vault_id = std::move(*id);
  COFFRE_ASSIGN_OR_RETURN(view.share_set, ReadShareSet(*store));
  for (std::string_view name : config_names) {
    COFFRE_ASSIGN_OR_RETURN(
        auto value,
        store->Get(Space::kMeta, std::string(layout::kConfigPrefix) + std::string(name)));
    if (value) view.config.emplace(std::string(name), std::move(*value));
  }
  return view;
}

std::string ShareCheck(std::string_view vault_id, uint32_t generation, unsigned threshold,
                       unsigned count, const crypto::KeyShare& share) {
  WipedString m;
  m.s.reserve(kCheckContext.size() + vault_id.size() + 7 + crypto::kKeyBytes);
  m.s += kCheckContext;
  m.s += vault_id;
  AppendU32(m.s, generation);
  m.s.push_back(static_cast<char>(share.index));
  m.s.push_back(static_cast<char>(threshold));
  m.s.push_back(static_cast<char>(count));
  m.s += share.share.view();
  return crypto::Hash(m.s);
}

std::string FormatShare(const PlainShare& p) {
  std::string out(kShareMagic);
  out += ' ';
  out += kVersion;
  out += ' ' + ToHex(p.vault_id) + ' ' + std::to_string(p.generation) + ' ' +
         std::to_string(p.share.index) + ' ' + std::to_string(p.threshold) + ' ' +
         std::to_string(p.count) + ' ';
  WipedString hex{ToHex(p.share.share.view())};
  out += hex.s;
  out += ' ' + ToHex(ShareCheck(p.vault_id, p.generation, p.threshold, p.count, p.share)) + '\n';
  return out;
}

Result<PlainShare> ParseShare(std::string_view line) {
  const Error bad{ErrorCode::kPermissionDenied,
                  "the input is not a coffre key share (coffre-key-share v1 ...)"};
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  auto w = Words(line);
  if (w.size() != 9 || w[0] != kShareMagic || w[1] != kVersion) return Fail(bad);
  PlainShare p;
  auto id = FromHex(w[2]);
  auto gen = Number(w[3], 1, UINT32_MAX);
  auto index = Number(w[4], 1, crypto::kMaxShares);
  auto k = Number(w[5], 2, crypto::kMaxShares);
  auto n = Number(w[6], 2, crypto::kMaxShares);
  if (!id || id->size() != 16 || !gen || !index || !k || !n || *k > *n || *index > *n)
    return Fail(bad);
  WipedString raw;
  auto decoded = FromHex(w[7]);
  if (!decoded) return Fail(bad);
  raw.s = std::move(*decoded);
  auto key = crypto::SecretKey::FromBytes(raw.s);
  auto check = FromHex(w[8]);
  if (!key || !check || check->size() != crypto::kBlindBytes) return Fail(bad);
  p.vault_id = std::move(*id);
  p.generation = *gen;
  p.threshold = *k;
  p.count = *n;
  p.share.index = static_cast<uint8_t>(*index);
  p.share.share = std::move(*key);
  if (!crypto::ConstantTimeEquals(
          *check, ShareCheck(p.vault_id, p.generation, p.threshold, p.count, p.share))) {
    return Fail(ErrorCode::kPermissionDenied,
                "the share is corrupt: its check value does not match (share " +
                    std::to_string(*index) + ")");
  }
  return p;
}

Result<SealedShares> SealShares(std::string_view vault_id, const crypto::SecretKey& master,
                                uint32_t generation, unsigned threshold,
                                const std::vector<std::string>& recipients) {
  const unsigned count = static_cast<unsigned>(recipients.size());
  if (count < 2 || count > crypto::kMaxShares || threshold < 2 || threshold > count) {
    return Fail(ErrorCode::kInvalidArgument,
                "a split needs 2 <= --threshold <= the number of --recipient <= 255 (threshold " +
                    std::to_string(threshold) + ", recipients " + std::to_string(count) + ")");
  }
  std::vector<std::string> keys;
  for (size_t i = 0; i < recipients.size(); ++i) {
    auto pk = FromHex(recipients[i]);
    if (!pk || pk->size() != crypto::kBoxPublicKeyBytes) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--recipient " + std::to_string(i + 1) +
                      " is not an X25519 public key (64 hex characters, coffre keygen)");
    }
    if (std::find(keys.begin(), keys.end(), *pk) != keys.end()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--recipient " + std::to_string(i + 1) +
                      " is given twice: one holder would hold two shares");
    }
    keys.push_back(std::move(*pk));
  }
  COFFRE_ASSIGN_OR_RETURN(std::vector<crypto::KeyShare> shares,
                          crypto::SplitKey(master, threshold, count));
  // Checked before anything leaves memory: `threshold` shares, the first
  // and the last ones, give the key back, and threshold - 1 do not.
  std::vector<crypto::KeyShare> some;
  for (unsigned i = 0; i < threshold; ++i) {
    const crypto::KeyShare& s = shares[i < threshold / 2 ? i : count - threshold + i];
    some.push_back({s.index, s.share.Clone()});
  }
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretKey back, crypto::CombineKey(some));
  if (!back.ConstantTimeEquals(master))
    return Fail(ErrorCode::kInternal, "the shares do not recombine to the key");
  SealedShares out;
  out.set = {.generation = generation, .threshold = threshold, .count = count, .checks = {}};
  const std::string id_hex = ToHex(vault_id);
  for (unsigned i = 0; i < count; ++i) {
    PlainShare p{.vault_id = std::string(vault_id),
                 .generation = generation,
                 .threshold = threshold,
                 .count = count,
                 .share = {shares[i].index, shares[i].share.Clone()}};
    out.set.checks.push_back(ShareCheck(vault_id, generation, threshold, count, p.share));
    WipedString line{FormatShare(p)};
    COFFRE_ASSIGN_OR_RETURN(std::string image, crypto::SealSmallFile(keys[i], line.s));
    out.images.push_back(std::move(image));
    out.names.push_back("coffre-share-" + id_hex + "-g" + std::to_string(generation) + "-" +
                        std::to_string(i + 1) + "-of-" + std::to_string(count) + ".sealed");
  }
  return out;
}

void RemoveShareFiles(int dir_fd, const SealedShares& shares) {
  for (const std::string& name : shares.names) ::unlinkat(dir_fd, name.c_str(), 0);
  (void)::fsync(dir_fd);
}

Result<std::vector<std::string>> WriteShareFiles(int dir_fd, const std::string& dir_name,
                                                 const SealedShares& shares) {
  std::vector<std::string> written;
  auto undo = [&](Error e) -> Result<std::vector<std::string>> {
    for (const std::string& path : written) {
      ::unlinkat(dir_fd, path.substr(dir_name.size() + 1).c_str(), 0);
    }
    (void)::fsync(dir_fd);
    return Fail(std::move(e));
  };
  for (size_t i = 0; i < shares.names.size(); ++i) {
    const std::string path = dir_name + "/" + shares.names[i];
    int fd = ::openat(dir_fd, shares.names[i].c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      const int err = errno;
      if (err == EEXIST)
        return undo(
            {ErrorCode::kAlreadyExists, path + " already exists; choose another --out-dir"});
      return undo({ErrorCode::kIoError, "cannot create " + path + ": " + std::strerror(err)});
    }
    written.push_back(path);
    Status s = WriteAllFd(fd, shares.images[i]);
    const bool synced = s && ::fsync(fd) == 0;
    const bool closed = ::close(fd) == 0;
    if (!s || !synced || !closed) return undo({ErrorCode::kIoError, "cannot write " + path});
    auto back = ReadBackFd(dir_fd, shares.names[i], shares.images[i].size());
    if (!back || *back != shares.images[i])
      return undo({ErrorCode::kIoError, path + " does not read back as written"});
  }
  if (::fsync(dir_fd) != 0) return undo({ErrorCode::kIoError, "cannot sync " + dir_name});
  return written;
}

Unsealer::Unsealer(std::string vault_id, ShareSet set)
    : vault_id_(std::move(vault_id)), set_(std::move(set)) {}
Unsealer::~Unsealer() = default;

Result<bool> Unsealer::Give(std::string_view line) {
  COFFRE_ASSIGN_OR_RETURN(PlainShare p, ParseShare(line));
  if (p.vault_id != vault_id_) {
    return Fail(ErrorCode::kPermissionDenied,
                "the share belongs to another vault (" + ToHex(p.vault_id) + ")");
  }
  if (p.generation != set_.generation || p.threshold != set_.threshold || p.count != set_.count) {
    return Fail(ErrorCode::kPermissionDenied,
                "the share is of key generation " + std::to_string(p.generation) +
                    "; the vault's key is generation " + std::to_string(set_.generation) +
                    " (split again or rotated since)");
  }
  if (!crypto::ConstantTimeEquals(
          set_.checks[p.share.index - 1],
          ShareCheck(vault_id_, p.generation, p.threshold, p.count, p.share))) {
    return Fail(ErrorCode::kPermissionDenied,
                "share " + std::to_string(p.share.index) + " is not the one this vault recorded");
  }
  if (shares_.contains(p.share.index)) return false;
  shares_.emplace(p.share.index, std::move(p.share));
  return true;
}

Result<crypto::SecretKey> Unsealer::Combine() {
  if (!complete()) {
    return Fail(ErrorCode::kFailedPrecondition,
                std::to_string(given()) + " of " + std::to_string(set_.threshold) +
                    " shares given: the key cannot be recombined yet");
  }
  std::vector<crypto::KeyShare> shares;
  for (auto& [index, s] : shares_) shares.push_back(std::move(s));
  shares_.clear();
  return crypto::CombineKey(shares);
}

}  // namespace coffre::vault
