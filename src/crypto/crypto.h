// Misuse-resistant cryptography for coffre. The only module that calls
// libsodium. Callers never choose a nonce or an algorithm.
//
//   COFFRE_TRY(crypto::Init());
//   crypto::SecretKey key = crypto::SecretKey::Random();
//   std::string sealed = crypto::Seal(key, plaintext, aad);
//   Result<std::string> opened = crypto::Open(key, sealed, aad);  // kDataLoss if tampered
//
//   crypto::BlindIndexer idx(field_key);
//   std::string blind = idx.Compute(canonical_value);   // 32 bytes
//
// Algorithms: XChaCha20-Poly1305 (IETF) with random 192-bit nonces for
// sealing; keyed BLAKE2b-256 for blind indexes and key-check values.
// Formats: docs/key-hierarchy.md.
//
// Thread-safety: all functions are thread-safe once Init() has returned.
// SecretKey and BlindIndexer are values; share them read-only.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::crypto {

inline constexpr size_t kKeyBytes = 32;
inline constexpr size_t kNonceBytes = 24;
inline constexpr size_t kTagBytes = 16;
inline constexpr size_t kSealOverhead = kNonceBytes + kTagBytes;
inline constexpr size_t kBlindBytes = 32;

// Initialises libsodium. Idempotent; call before any other function.
[[nodiscard]] Status Init();

// A 256-bit secret. Move-only; wiped from memory when destroyed; compared in
// constant time; held in memory left out of core dumps.
class SecretKey {
 public:
  SecretKey();  // all zero; use Random() or FromBytes()
  ~SecretKey();
  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  static SecretKey Random();
  static Result<SecretKey> FromBytes(std::string_view bytes);
  SecretKey Clone() const;

  [[nodiscard]] bool ConstantTimeEquals(const SecretKey& other) const;
  // A moved-from key reads as all zero.
  const unsigned char* data() const { return bytes_ != nullptr ? bytes_ : kZeroKey; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data()), kKeyBytes}; }

 private:
  static constexpr unsigned char kZeroKey[kKeyBytes] = {};
  // A slot of pages kept out of core dumps (MADV_DONTDUMP) and locked in
  // memory when allowed (crypto.cc); null once moved from.
  unsigned char* bytes_;
};

// Fills `out` with `n` random bytes from the OS-seeded CSPRNG.
void RandomBytes(void* out, size_t n);
std::string RandomString(size_t n);

// Overwrites `n` bytes with zeros in a way the compiler cannot elide (for
// plaintext copies and other secrets held in ordinary buffers).
void Wipe(void* p, size_t n);

// AEAD. Output layout: nonce(24) || ciphertext || tag(16).
std::string Seal(const SecretKey& key, std::string_view plaintext, std::string_view aad);
// Appends the sealed form to `out` (no temporary allocation).
void SealAppend(const SecretKey& key, std::string_view plaintext, std::string_view aad,
                std::string& out);
// Fails with kDataLoss when the tag does not verify (wrong key, wrong aad,
// any flipped byte). `what` names the object in the message ("record").
Result<std::string> Open(const SecretKey& key, std::string_view sealed, std::string_view aad,
                         std::string_view what = "sealed value");

// Wrapping a key is sealing it; these keep the key in a SecretKey.
std::string WrapKey(const SecretKey& kek, const SecretKey& key, std::string_view aad);
// Appends the wrapped form (the same bytes as WrapKey) to `out`.
void WrapKeyAppend(const SecretKey& kek, const SecretKey& key, std::string_view aad,
                   std::string& out);
Result<SecretKey> UnwrapKey(const SecretKey& kek, std::string_view wrapped, std::string_view aad,
                            std::string_view what = "wrapped key");

// Keyed BLAKE2b-256 with the key absorbed once, so each Compute costs one
// compression for short values. Copyable (copies the initial state).
class BlindIndexer {
 public:
  explicit BlindIndexer(const SecretKey& key);
  ~BlindIndexer();
  BlindIndexer(const BlindIndexer&);
  BlindIndexer& operator=(const BlindIndexer&);
  // Writes kBlindBytes to `out`.
  void Compute(std::string_view value, unsigned char* out) const;
  std::string Compute(std::string_view value) const;

 private:
  alignas(64) unsigned char state_[384];
};

// BLAKE2b-256, unkeyed (chaining public data, e.g. the erasure journal).
std::string Hash(std::string_view message);
// The same into 32 bytes at `out`: no allocation, for hashing millions of
// audit entries.
void Hash(std::string_view message, unsigned char* out);

// Keyed BLAKE2b-256, one shot (key-check values and API-key hashes).
std::string KeyedHash(const SecretKey& key, std::string_view message);

// Constant-time equality of two byte strings of equal length.
[[nodiscard]] bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Ed25519 signatures (audit checkpoints). The secret key is derived from a
// 32-byte seed kept sealed in the keyring; the public key is 32 bytes, a
// signature 64. Move-only; the secret part is wiped when destroyed.
inline constexpr size_t kPublicKeyBytes = 32;
inline constexpr size_t kSignatureBytes = 64;
class SigningKey {
 public:
  static SigningKey FromSeed(const SecretKey& seed);
  ~SigningKey();
  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&& other) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  const std::string& public_key() const { return public_key_; }
  std::string Sign(std::string_view message) const;  // 64 bytes

 private:
  SigningKey() = default;
  std::array<unsigned char, 64> secret_{};
  std::string public_key_;
};
// True only for a valid signature of `message` under `public_key`.
[[nodiscard]] bool VerifySignature(std::string_view public_key, std::string_view message,
                                   std::string_view signature);

// Sealed boxes (libsodium crypto_box_seal: an ephemeral X25519 key agreement
// with the recipient's public key, then XSalsa20-Poly1305): anyone holding
// the recipient's public key can seal, only its secret key opens, and the
// sender keeps nothing that opens it. For files handed to someone outside
// coffre (bulk exports, breach notification lists; crypto/sealed_file.h).
// The secret key is a SecretKey holding an X25519 scalar.
inline constexpr size_t kBoxPublicKeyBytes = 32;
inline constexpr size_t kBoxSealOverhead = 48;  // ephemeral public key + tag
// The X25519 public key of `secret` (RFC 7748, section 6.1).
std::string BoxPublicKey(const SecretKey& secret);
// kInvalidArgument for a public key that is not 32 bytes or is a low-order
// point (the shared secret would be all zero).
Result<std::string> SealToRecipient(std::string_view recipient_public_key,
                                    std::string_view plaintext);
// kDataLoss when it does not open (another key, any altered byte).
Result<std::string> OpenSealedBox(const SecretKey& secret, std::string_view sealed);

// An authenticated stream of chunks under one key (libsodium
// crypto_secretstream_xchacha20poly1305): chunks open only in order, and
// the last is marked final, so reordered, dropped, repeated or truncated
// chunks are all detected. Move-only; the state is wiped when destroyed.
inline constexpr size_t kStreamHeaderBytes = 24;
inline constexpr size_t kStreamChunkOverhead = 17;
class StreamSealer {
 public:
  // `header` (kStreamHeaderBytes) must precede the chunks.
  explicit StreamSealer(const SecretKey& key, std::string& header);
  ~StreamSealer();
  StreamSealer(StreamSealer&&) noexcept;
  StreamSealer& operator=(StreamSealer&&) noexcept;
  StreamSealer(const StreamSealer&) = delete;
  StreamSealer& operator=(const StreamSealer&) = delete;
  // Appends the sealed chunk (chunk size + kStreamChunkOverhead) to `out`.
  void Push(std::string_view chunk, bool final, std::string& out);

 private:
  alignas(16) unsigned char state_[64];
};

class StreamOpener {
 public:
  // kDataLoss for a header of the wrong size.
  static Result<StreamOpener> Start(const SecretKey& key, std::string_view header);
  ~StreamOpener();
  StreamOpener(StreamOpener&&) noexcept;
  StreamOpener& operator=(StreamOpener&&) noexcept;
  StreamOpener(const StreamOpener&) = delete;
  StreamOpener& operator=(const StreamOpener&) = delete;
  // Appends the opened chunk to `out`; returns whether it was the final
  // one. kDataLoss when it does not open in this position.
  Result<bool> Pull(std::string_view sealed_chunk, std::string& out);

 private:
  StreamOpener() = default;
  alignas(16) unsigned char state_[64];
};

// Password hashing with Argon2id. The encoded hash ($argon2id$v=19$m=..,t=..,
// p=1$salt$hash) carries its own parameters. Never log either argument.
struct PasswordHashParams {
  uint64_t ops_limit = 3;        // passes
  size_t mem_limit = 64u << 20;  // bytes
};
// Parameters for tests (fast, still Argon2id).
inline constexpr PasswordHashParams kTestPasswordHashParams{1, 8u << 10};
// kResourceExhausted when memory for the hash cannot be allocated.
Result<std::string> HashPassword(std::string_view password, const PasswordHashParams& params);
// True when `password` matches `encoded`; false for a mismatch or a
// malformed hash.
[[nodiscard]] bool VerifyPassword(std::string_view encoded, std::string_view password);
// True when `encoded` was made with parameters other than `params` (upgrade
// it after the next successful verify).
[[nodiscard]] bool PasswordNeedsRehash(std::string_view encoded, const PasswordHashParams& params);

}  // namespace coffre::crypto
