#include "audit/internal/format.h"

#include <charconv>

#include "common/bytes.h"
#include "crypto/crypto.h"

namespace coffre::audit::internal {
namespace {

constexpr std::string_view kCheckpointDomain = "coffre-audit-checkpoint v1";
constexpr std::string_view kAnchorMagic = "coffre-audit-anchor v1 ";
constexpr unsigned char kValueVersion = 1;

std::string TaggedSeq(char tag, uint64_t seq) {
  std::string k(1, tag);
  AppendBigEndian64(k, seq);
  return k;
}

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string EntryKey(uint64_t seq) { return TaggedSeq(kEntryTag, seq); }
std::string CheckpointKey(uint64_t seq) { return TaggedSeq(kCheckpointTag, seq); }

std::optional<uint64_t> SeqOfKey(std::string_view key, char tag) {
  if (key.size() != 9 || key[0] != tag) return std::nullopt;
  return ReadBigEndian64(key.substr(1));
}

std::string PrincipalPrefix(char role, std::string_view name) {
  std::string k(1, role);
  AppendLengthPrefixed(k, name);
  return k;
}

std::string SubjectPrefix(std::string_view subject) { return std::string(subject); }

std::string IndexKey(std::string_view prefix, int64_t time_ms, uint64_t seq) {
  std::string k(prefix);
  AppendBigEndian64(k, static_cast<uint64_t>(time_ms < 0 ? 0 : time_ms));
  AppendBigEndian64(k, seq);
  return k;
}

std::optional<uint64_t> SeqOfIndexKey(std::string_view key) {
  if (key.size() < 16) return std::nullopt;
  return ReadBigEndian64(key.substr(key.size() - 8));
}

std::string ChainHash(std::string_view previous, uint64_t seq, std::string_view entry_bytes) {
  std::string m;
  m.reserve(previous.size() + 8 + entry_bytes.size());
  m.append(previous);
  AppendBigEndian64(m, seq);
  m.append(entry_bytes);
  return crypto::Hash(m);
}

void ChainHashInto(std::string_view previous, uint64_t seq, std::string_view entry_bytes,
                   std::string& scratch, char* out) {
  scratch.clear();
  scratch.append(previous);
  AppendBigEndian64(scratch, seq);
  scratch.append(entry_bytes);
  crypto::Hash(scratch, reinterpret_cast<unsigned char*>(out));
}

std::optional<StoredEntry> SplitStoredEntry(std::string_view value) {
  if (value.size() <= kHashBytes) return std::nullopt;
  return StoredEntry{value.substr(0, value.size() - kHashBytes),
                     value.substr(value.size() - kHashBytes)};
}

std::string CheckpointMessage(uint64_t seq, int64_t time_ms, std::string_view hash) {
  std::string m(kCheckpointDomain);
  AppendBigEndian64(m, seq);
  AppendBigEndian64(m, static_cast<uint64_t>(time_ms));
  m.append(hash);
  return m;
}

std::string EncodeCheckpointValue(const Checkpoint& c) {
  std::string v(1, static_cast<char>(kValueVersion));
  AppendBigEndian64(v, static_cast<uint64_t>(c.time_ms));
  v += c.hash;
  v += c.signature;
  return v;
}

std::optional<Checkpoint> DecodeCheckpointValue(uint64_t seq, std::string_view v) {
  if (v.size() != 1 + 8 + kHashBytes + crypto::kSignatureBytes ||
      static_cast<unsigned char>(v[0]) != kValueVersion) {
    return std::nullopt;
  }
  Checkpoint c;
  c.seq = seq;
  c.time_ms = static_cast<int64_t>(ReadBigEndian64(v.substr(1)));
  c.hash.assign(v.substr(9, kHashBytes));
  c.signature.assign(v.substr(9 + kHashBytes));
  return c;
}

bool CheckpointSignatureValid(const Checkpoint& c, std::string_view public_key) {
  return crypto::VerifySignature(public_key, CheckpointMessage(c.seq, c.time_ms, c.hash),
                                 c.signature);
}

std::string EncodeHead(const Head& h) {
  std::string v(1, static_cast<char>(kValueVersion));
  AppendBigEndian64(v, h.last_seq);
  v += h.hash;
  AppendBigEndian64(v, h.last_checkpoint_seq);
  return v;
}

std::optional<Head> DecodeHead(std::string_view v) {
  if (v.size() != 1 + 8 + kHashBytes + 8 || static_cast<unsigned char>(v[0]) != kValueVersion) {
    return std::nullopt;
  }
  Head h;
  h.last_seq = ReadBigEndian64(v.substr(1));
  h.hash.assign(v.substr(9, kHashBytes));
  h.last_checkpoint_seq = ReadBigEndian64(v.substr(9 + kHashBytes));
  return h;
}

std::string AnchorHeader(std::string_view public_key) {
  return std::string(kAnchorMagic) + ToHex(public_key) + "\n";
}

std::optional<std::string> ParseAnchorHeader(std::string_view line) {
  if (!line.starts_with(kAnchorMagic)) return std::nullopt;
  auto key = FromHex(line.substr(kAnchorMagic.size()));
  if (!key || key->size() != crypto::kPublicKeyBytes) return std::nullopt;
  return *key;
}

std::string AnchorLine(const Checkpoint& c) {
  return std::to_string(c.seq) + " " + std::to_string(c.time_ms) + " " + ToHex(c.hash) + " " +
         ToHex(c.signature) + "\n";
}

std::optional<Checkpoint> ParseAnchorLine(std::string_view line) {
  std::string_view parts[4];
  for (int i = 0; i < 4; ++i) {
    size_t sp = i < 3 ? line.find(' ') : line.size();
    if (sp == std::string_view::npos) return std::nullopt;
    parts[i] = line.substr(0, sp);
    line.remove_prefix(i < 3 ? sp + 1 : sp);
  }
  Checkpoint c;
  if (!ParseNumber(parts[0], c.seq) || !ParseNumber(parts[1], c.time_ms)) return std::nullopt;
  auto hash = FromHex(parts[2]);
  auto sig = FromHex(parts[3]);
  if (!hash || hash->size() != kHashBytes || !sig || sig->size() != crypto::kSignatureBytes) {
    return std::nullopt;
  }
  c.hash = std::move(*hash);
  c.signature = std::move(*sig);
  return c;
}

}  // namespace coffre::audit::internal
