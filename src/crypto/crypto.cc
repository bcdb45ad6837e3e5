#include "crypto/crypto.h"

#include <pthread.h>
#include <sodium.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "crypto/shamir.h"

namespace coffre::crypto {

static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kKeyBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kNonceBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kTagBytes);

Status Init() {
  // libsodium's ChaCha20-based generator, seeded (and reseeded after fork)
  // from the kernel, instead of one getrandom(2) call per draw: bulk import
  // draws five values per record (two ids, a data key, two nonces).
  static const bool chosen = [] {
    randombytes_set_implementation(&randombytes_internal_implementation);
    // Before any split: libgfshare draws its coefficients through this.
    internal::InstallShamirFiller();
    return true;
  }();
  (void)chosen;
  if (sodium_init() < 0) return Fail(ErrorCode::kInternal, "libsodium failed to initialise");
  return Ok();
}

namespace {

// Where SecretKeys live: 32-byte slots in pages mapped apart, marked
// MADV_DONTDUMP (never in a core dump, even one allowed for debugging) and
// locked in memory when RLIMIT_MEMLOCK allows (never swapped). A slot is
// wiped when given back. Never unmapped: keys held by static objects may
// outlive every other static.
class KeyArena {
 public:
  unsigned char* Take() {
    std::lock_guard lock(mu_);
    if (free_.empty()) Grow();
    unsigned char* slot = free_.back();
    free_.pop_back();
    return slot;
  }
  void Give(unsigned char* slot) {
    sodium_memzero(slot, kKeyBytes);
    std::lock_guard lock(mu_);
    free_.push_back(slot);
  }

 private:
  void Grow() {
    constexpr size_t kChunkBytes = 64u << 10;
    void* chunk =
        ::mmap(nullptr, kChunkBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (chunk == MAP_FAILED) std::abort();  // out of memory, as operator new would be
    (void)::madvise(chunk, kChunkBytes, MADV_DONTDUMP);
    (void)::mlock(chunk, kChunkBytes);  // best effort
    free_.reserve(free_.size() + kChunkBytes / kKeyBytes);
    for (size_t off = kChunkBytes; off >= kKeyBytes; off -= kKeyBytes) {
      free_.push_back(static_cast<unsigned char*>(chunk) + off - kKeyBytes);
    }
  }

  std::mutex mu_;
  std::vector<unsigned char*> free_;
};

KeyArena& Arena() {
  static auto* arena = new KeyArena;
  return *arena;
}

}  // namespace

SecretKey::SecretKey() : bytes_(Arena().Take()) {}
SecretKey::~SecretKey() {
  if (bytes_ != nullptr) Arena().Give(bytes_);
}
SecretKey::SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_) { other.bytes_ = nullptr; }
SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    if (bytes_ != nullptr) Arena().Give(bytes_);
    bytes_ = other.bytes_;
    other.bytes_ = nullptr;
  }
  return *this;
}

SecretKey SecretKey::Random() {
  SecretKey k;
  RandomBytes(k.bytes_, kKeyBytes);
  return k;
}

Result<SecretKey> SecretKey::FromBytes(std::string_view bytes) {
  if (bytes.size() != kKeyBytes) return Fail(ErrorCode::kInvalidArgument, "a key must be 32 bytes");
  SecretKey k;
  std::memcpy(k.bytes_, bytes.data(), kKeyBytes);
  return k;
}

SecretKey SecretKey::Clone() const {
  SecretKey k;
  std::memcpy(k.bytes_, data(), kKeyBytes);
  return k;
}

bool SecretKey::ConstantTimeEquals(const SecretKey& other) const {
  return sodium_memcmp(data(), other.data(), kKeyBytes) == 0;
}

namespace {

// Per-thread buffer of CSPRNG output. One libsodium draw costs about as much
// as sealing a small record whatever its size, and bulk import makes five
// small draws per record (two ids, a data key, two nonces); drawing 4 KiB at
// a time makes them nearly free. Bytes are wiped from the buffer as they are
// handed out, so memory read later reveals no key or nonce already used. A
// forked child discards its parent's buffer (generation bump in an atfork
// handler), so the two processes never share random bytes.
std::atomic<uint64_t> g_fork_generation{0};

void OnForkChild() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

// Set when this thread's pool is destroyed: a draw from a later thread-local
// or static destructor must not read a dead (wiped, all-zero) buffer.
thread_local bool t_pool_dead = false;

struct RandomPool {
  static constexpr size_t kSize = 4096;
  unsigned char bytes[kSize];
  size_t used = kSize;
  uint64_t generation = UINT64_MAX;

  ~RandomPool() {
    sodium_memzero(bytes, sizeof bytes);
    t_pool_dead = true;
  }

  void Take(unsigned char* out, size_t n) {
    uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
    if (gen != generation) {
      if (gen != 0) {
        // First draw of this thread in a forked child: libsodium's generator
        // refuses (aborts) until it is reseeded, and any buffer is the parent's.
        randombytes_stir();
      }
      sodium_memzero(bytes, sizeof bytes);
      used = kSize;
      generation = gen;
    }
    while (n > 0) {
      if (used == kSize) {
        randombytes_buf(bytes, kSize);
        used = 0;
      }
      size_t k = std::min(n, kSize - used);
      std::memcpy(out, bytes + used, k);
      sodium_memzero(bytes + used, k);
      used += k;
      out += k;
      n -= k;
    }
  }
};

}  // namespace

void RandomBytes(void* out, size_t n) {
  static std::once_flag atfork;
  std::call_once(atfork, [] { pthread_atfork(nullptr, nullptr, OnForkChild); });
  if (n >= RandomPool::kSize || t_pool_dead) {
    randombytes_buf(out, n);
    return;
  }
  thread_local RandomPool pool;
  pool.Take(static_cast<unsigned char*>(out), n);
}

void Wipe(void* p, size_t n) { sodium_memzero(p, n); }

std::string RandomString(size_t n) {
  std::string s(n, '\0');
  RandomBytes(s.data(), n);
  return s;
}

static const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

void SealAppend(const SecretKey& key, std::string_view plaintext, std::string_view aad,
                std::string& out) {
  size_t start = out.size();
  out.resize(start + kNonceBytes + plaintext.size() + kTagBytes);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data() + start);
  RandomBytes(nonce, kNonceBytes);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonceBytes, &clen, U(plaintext),
                                             plaintext.size(), U(aad), aad.size(), nullptr, nonce,
                                             key.data());
}

std::string Seal(const SecretKey& key, std::string_view plaintext, std::string_view aad) {
  std::string out;
  SealAppend(key, plaintext, aad, out);
  return out;
}

Result<std::string> Open(const SecretKey& key, std::string_view sealed, std::string_view aad,
                         std::string_view what) {
  if (sealed.size() < kSealOverhead) {
    return Fail(ErrorCode::kDataLoss, std::string(what) + " is truncated");
  }
  std::string plain(sealed.size() - kSealOverhead, '\0');
  unsigned long long plen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plen, nullptr, U(sealed) + kNonceBytes,
          sealed.size() - kNonceBytes, U(aad), aad.size(), U(sealed), key.data()) != 0) {
    sodium_memzero(plain.data(), plain.size());
    return Fail(ErrorCode::kDataLoss,
                std::string(what) + " failed authentication (tampered, moved, or wrong key)");
  }
  plain.resize(plen);
  return plain;
}

std::string WrapKey(const SecretKey& kek, const SecretKey& key, std::string_view aad) {
  return Seal(kek, key.view(), aad);
}

void WrapKeyAppend(const SecretKey& kek, const SecretKey& key, std::string_view aad,
                   std::string& out) {
  SealAppend(kek, key.view(), aad, out);
}

Result<SecretKey> UnwrapKey(const SecretKey& kek, std::string_view wrapped, std::string_view aad,
                            std::string_view what) {
  auto plain = Open(kek, wrapped, aad, what);
  if (!plain) return Fail(std::move(plain).error());
  auto key = SecretKey::FromBytes(*plain);
  sodium_memzero(plain->data(), plain->size());
  if (!key) return Fail(ErrorCode::kDataLoss, std::string(what) + " has the wrong size");
  return key;
}

static_assert(sizeof(crypto_generichash_state) <= 384);

BlindIndexer::BlindIndexer(const SecretKey& key) {
  auto* st = reinterpret_cast<crypto_generichash_state*>(state_);
  crypto_generichash_init(st, key.data(), kKeyBytes, kBlindBytes);
}
BlindIndexer::~BlindIndexer() { sodium_memzero(state_, sizeof state_); }
BlindIndexer::BlindIndexer(const BlindIndexer& o) { std::memcpy(state_, o.state_, sizeof state_); }
BlindIndexer& BlindIndexer::operator=(const BlindIndexer& o) {
  // memcpy onto itself is undefined (overlapping ranges).
  if (this != &o) std::memcpy(state_, o.state_, sizeof state_);
  return *this;
}

void BlindIndexer::Compute(std::string_view value, unsigned char* out) const {
  alignas(64) unsigned char copy[384];
  std::memcpy(copy, state_, sizeof copy);
  auto* st = reinterpret_cast<crypto_generichash_state*>(copy);
  crypto_generichash_update(st, U(value), value.size());
  crypto_generichash_final(st, out, kBlindBytes);
  sodium_memzero(copy, sizeof copy);
}

std::string BlindIndexer::Compute(std::string_view value) const {
  std::string out(kBlindBytes, '\0');
  Compute(value, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string Hash(std::string_view message) {
  std::string out(kBlindBytes, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), kBlindBytes, U(message),
                     message.size(), nullptr, 0);
  return out;
}

void Hash(std::string_view message, unsigned char* out) {
  crypto_generichash(out, kBlindBytes, U(message), message.size(), nullptr, 0);
}

std::string KeyedHash(const SecretKey& key, std::string_view message) {
  std::string out(kBlindBytes, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), kBlindBytes, U(message),
                     message.size(), key.data(), kKeyBytes);
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

SigningKey SigningKey::FromSeed(const SecretKey& seed) {
  SigningKey k;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, k.secret_.data(), seed.data());
  k.public_key_.assign(reinterpret_cast<const char*>(pk), sizeof pk);
  return k;
}

SigningKey::~SigningKey() { sodium_memzero(secret_.data(), secret_.size()); }

SigningKey::SigningKey(SigningKey&& other) noexcept
    : secret_(other.secret_), public_key_(std::move(other.public_key_)) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    secret_ = other.secret_;
    public_key_ = std::move(other.public_key_);
    sodium_memzero(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

std::string SigningKey::Sign(std::string_view message) const {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, U(message),
                       message.size(), secret_.data());
  return sig;
}

bool VerifySignature(std::string_view public_key, std::string_view message,
                     std::string_view signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES) {
    return false;
  }
  return crypto_sign_verify_detached(U(signature), U(message), message.size(), U(public_key)) == 0;
}

static_assert(kPublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(kSignatureBytes == crypto_sign_BYTES);

Result<std::string> HashPassword(std::string_view password, const PasswordHashParams& params) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), params.ops_limit,
                            params.mem_limit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Fail(ErrorCode::kResourceExhausted, "not enough memory to hash a password");
  }
  std::string encoded(out);
  sodium_memzero(out, sizeof out);
  return encoded;
}

bool VerifyPassword(std::string_view encoded, std::string_view password) {
  if (encoded.empty() || encoded.size() >= crypto_pwhash_STRBYTES) return false;
  char buf[crypto_pwhash_STRBYTES] = {};
  std::memcpy(buf, encoded.data(), encoded.size());
  return crypto_pwhash_str_verify(buf, password.data(), password.size()) == 0;
}

bool PasswordNeedsRehash(std::string_view encoded, const PasswordHashParams& params) {
  if (encoded.empty() || encoded.size() >= crypto_pwhash_STRBYTES) return true;
  char buf[crypto_pwhash_STRBYTES] = {};
  std::memcpy(buf, encoded.data(), encoded.size());
  return crypto_pwhash_str_needs_rehash(buf, params.ops_limit, params.mem_limit) != 0;
}

// ---------------------------------------------------------------- sealed boxes

static_assert(kBoxPublicKeyBytes == crypto_box_PUBLICKEYBYTES);
static_assert(kKeyBytes == crypto_box_SECRETKEYBYTES);
static_assert(kBoxSealOverhead == crypto_box_SEALBYTES);

std::string BoxPublicKey(const SecretKey& secret) {
  std::string pk(kBoxPublicKeyBytes, '\0');
  crypto_scalarmult_base(reinterpret_cast<unsigned char*>(pk.data()), secret.data());
  return pk;
}

Result<std::string> SealToRecipient(std::string_view recipient_public_key,
                                    std::string_view plaintext) {
  if (recipient_public_key.size() != kBoxPublicKeyBytes) {
    return Fail(ErrorCode::kInvalidArgument, "a recipient public key must be 32 bytes");
  }
  std::string out(plaintext.size() + kBoxSealOverhead, '\0');
  if (crypto_box_seal(reinterpret_cast<unsigned char*>(out.data()), U(plaintext), plaintext.size(),
                      U(recipient_public_key)) != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "the recipient public key is not usable (low-order point)");
  }
  return out;
}

Result<std::string> OpenSealedBox(const SecretKey& secret, std::string_view sealed) {
  if (sealed.size() < kBoxSealOverhead) {
    return Fail(ErrorCode::kDataLoss, "sealed box is too short");
  }
  std::string pk = BoxPublicKey(secret);
  std::string out(sealed.size() - kBoxSealOverhead, '\0');
  if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(out.data()), U(sealed), sealed.size(),
                           U(pk), secret.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    return Fail(ErrorCode::kDataLoss, "sealed box does not open with this secret key");
  }
  return out;
}

// ---------------------------------------------------------------- streams

using StreamState = crypto_secretstream_xchacha20poly1305_state;
static_assert(sizeof(StreamState) <= 64);
static_assert(kStreamHeaderBytes == crypto_secretstream_xchacha20poly1305_HEADERBYTES);
static_assert(kStreamChunkOverhead == crypto_secretstream_xchacha20poly1305_ABYTES);
static_assert(kKeyBytes == crypto_secretstream_xchacha20poly1305_KEYBYTES);

StreamSealer::StreamSealer(const SecretKey& key, std::string& header) {
  header.assign(kStreamHeaderBytes, '\0');
  crypto_secretstream_xchacha20poly1305_init_push(reinterpret_cast<StreamState*>(state_),
                                                  reinterpret_cast<unsigned char*>(header.data()),
                                                  key.data());
}
StreamSealer::~StreamSealer() { sodium_memzero(state_, sizeof state_); }
StreamSealer::StreamSealer(StreamSealer&& o) noexcept {
  std::memcpy(state_, o.state_, sizeof state_);
  sodium_memzero(o.state_, sizeof o.state_);
}
StreamSealer& StreamSealer::operator=(StreamSealer&& o) noexcept {
  if (this != &o) {
    std::memcpy(state_, o.state_, sizeof state_);
    sodium_memzero(o.state_, sizeof o.state_);
  }
  return *this;
}

void StreamSealer::Push(std::string_view chunk, bool final, std::string& out) {
  size_t at = out.size();
  out.resize(at + chunk.size() + kStreamChunkOverhead);
  crypto_secretstream_xchacha20poly1305_push(
      reinterpret_cast<StreamState*>(state_), reinterpret_cast<unsigned char*>(out.data() + at),
      nullptr, U(chunk), chunk.size(), nullptr, 0,
      final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
            : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
}

Result<StreamOpener> StreamOpener::Start(const SecretKey& key, std::string_view header) {
  if (header.size() != kStreamHeaderBytes) {
    return Fail(ErrorCode::kDataLoss, "stream header has the wrong size");
  }
  StreamOpener o;
  if (crypto_secretstream_xchacha20poly1305_init_pull(reinterpret_cast<StreamState*>(o.state_),
                                                      U(header), key.data()) != 0) {
    return Fail(ErrorCode::kDataLoss, "stream header is invalid");
  }
  return o;
}
StreamOpener::~StreamOpener() { sodium_memzero(state_, sizeof state_); }
StreamOpener::StreamOpener(StreamOpener&& o) noexcept {
  std::memcpy(state_, o.state_, sizeof state_);
  sodium_memzero(o.state_, sizeof o.state_);
}
StreamOpener& StreamOpener::operator=(StreamOpener&& o) noexcept {
  if (this != &o) {
    std::memcpy(state_, o.state_, sizeof state_);
    sodium_memzero(o.state_, sizeof o.state_);
  }
  return *this;
}

Result<bool> StreamOpener::Pull(std::string_view sealed_chunk, std::string& out) {
  if (sealed_chunk.size() < kStreamChunkOverhead) {
    return Fail(ErrorCode::kDataLoss, "stream chunk is too short");
  }
  size_t at = out.size();
  out.resize(at + sealed_chunk.size() - kStreamChunkOverhead);
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(
          reinterpret_cast<StreamState*>(state_), reinterpret_cast<unsigned char*>(out.data() + at),
          nullptr, &tag, U(sealed_chunk), sealed_chunk.size(), nullptr, 0) != 0) {
    out.resize(at);
    return Fail(ErrorCode::kDataLoss,
                "stream chunk does not open here (altered, reordered or from another stream)");
  }
  return tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
}

}  // namespace coffre::crypto
