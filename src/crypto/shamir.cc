#include "crypto/shamir.h"

#include <sodium.h>

#include <cstring>
#include <memory>
#include <string>

extern "C" {
#include <libgfshare.h>
}

namespace coffre::crypto {
namespace {

void FillFromLibsodium(unsigned char* buffer, unsigned int n) { randombytes_buf(buffer, n); }

struct CtxFree {
  void operator()(gfshare_ctx* c) const { gfshare_ctx_free(c); }
};
using Ctx = std::unique_ptr<gfshare_ctx, CtxFree>;

// What passes a key or a share to and from libgfshare: wiped when it goes.
struct Buffer {
  unsigned char bytes[kKeyBytes] = {};
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { sodium_memzero(bytes, sizeof bytes); }
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes), sizeof bytes}; }
};

}  // namespace

namespace internal {
void InstallShamirFiller() { gfshare_fill_rand = &FillFromLibsodium; }
}  // namespace internal

bool ShamirFillerIsLibsodium() { return gfshare_fill_rand == &FillFromLibsodium; }

Result<std::vector<KeyShare>> SplitKey(const SecretKey& key, unsigned threshold, unsigned count) {
  if (threshold < 2 || threshold > count || count > kMaxShares) {
    return Fail(ErrorCode::kInvalidArgument,
                "a split needs 2 <= threshold <= shares <= 255 (threshold " +
                    std::to_string(threshold) + ", shares " + std::to_string(count) + ")");
  }
  if (!ShamirFillerIsLibsodium()) {
    return Fail(ErrorCode::kInternal, "libgfshare's random filler is not libsodium's (Init)");
  }
  std::vector<unsigned char> xs(count);
  for (unsigned i = 0; i < count; ++i) xs[i] = static_cast<unsigned char>(i + 1);
  Ctx ctx(gfshare_ctx_init_enc(xs.data(), count, static_cast<unsigned char>(threshold), kKeyBytes));
  if (!ctx) return Fail(ErrorCode::kInternal, "libgfshare refused the split");
  // setsecret copies the key into the context; gfshare_ctx_free overwrites
  // the context with the filler's bytes before freeing it. The buffer that
  // passes each value is wiped on every way out.
  Buffer buf;
  std::memcpy(buf.bytes, key.data(), kKeyBytes);
  gfshare_ctx_enc_setsecret(ctx.get(), buf.bytes);
  std::vector<KeyShare> out(count);
  for (unsigned i = 0; i < count; ++i) {
    out[i].index = xs[i];
    gfshare_ctx_enc_getshare(ctx.get(), static_cast<unsigned char>(i), buf.bytes);
    COFFRE_ASSIGN_OR_RETURN(out[i].share, SecretKey::FromBytes(buf.view()));
  }
  return out;
}

Result<SecretKey> CombineKey(const std::vector<KeyShare>& shares) {
  if (shares.size() < 2 || shares.size() > kMaxShares) {
    return Fail(ErrorCode::kInvalidArgument, "combining needs between 2 and 255 shares");
  }
  std::vector<unsigned char> xs;
  for (const KeyShare& s : shares) {
    if (s.index == 0) return Fail(ErrorCode::kInvalidArgument, "share index 0 does not exist");
    for (unsigned char x : xs) {
      if (x == s.index) {
        return Fail(ErrorCode::kInvalidArgument,
                    "share " + std::to_string(s.index) + " is given twice");
      }
    }
    xs.push_back(s.index);
  }
  if (!ShamirFillerIsLibsodium()) {
    return Fail(ErrorCode::kInternal, "libgfshare's random filler is not libsodium's (Init)");
  }
  Ctx ctx(gfshare_ctx_init_dec(xs.data(), static_cast<unsigned>(xs.size()), kKeyBytes));
  if (!ctx) return Fail(ErrorCode::kInternal, "libgfshare refused the shares");
  Buffer buf;
  for (size_t i = 0; i < shares.size(); ++i) {
    std::memcpy(buf.bytes, shares[i].share.data(), kKeyBytes);
    gfshare_ctx_dec_giveshare(ctx.get(), static_cast<unsigned char>(i), buf.bytes);
  }
  gfshare_ctx_dec_extract(ctx.get(), buf.bytes);
  return SecretKey::FromBytes(buf.view());
}

}  // namespace coffre::crypto
