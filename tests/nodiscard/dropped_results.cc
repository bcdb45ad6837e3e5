// Compiled, never linked, by the ctest cases nodiscard_* (tests/CMakeLists.txt):
// with no DROP_* macro it must compile under -Werror=unused-result (every
// answer below is used, or discarded explicitly); with one DROP_x defined, the
// one dropped answer it adds must be refused by the compiler. Keeps Status,
// Result and the boolean verifiers [[nodiscard]] (issue 14, item 3).
#include <cstdint>
#include <string_view>

#include "audit/internal/format.h"
#include "auth/internal/tokens.h"
#include "auth/totp.h"
#include "cards/card_rules.h"
#include "common/status.h"
#include "crypto/crypto.h"

namespace coffre {

Status Step();
Result<int> Count();

struct Store {
  Status Write();
};

Status Used(Store& store, const crypto::SecretKey& a, const crypto::SecretKey& b,
            const audit::internal::Checkpoint& checkpoint, std::string_view text) {
  COFFRE_TRY(Step());
  COFFRE_ASSIGN_OR_RETURN(int n, Count());
  if (auto s = store.Write(); !s) return s;
  auto twice = Count().and_then([](int v) -> Result<int> { return v * 2; });
  if (!twice) return Fail(twice.error());
  Result<int> assigned = Count();
  assigned = n;                                   // a value
  assigned = Fail(ErrorCode::kInternal, "test");  // an error
  (void)Step();                                   // the explicit discard compiles
  bool all = crypto::ConstantTimeEquals(text, text) && a.ConstantTimeEquals(b) &&
             crypto::VerifySignature(text, text, text) && crypto::VerifyPassword(text, text) &&
             !crypto::PasswordNeedsRehash(text, {}) &&
             auth::totp::Verify(text, text, 0, -1).has_value() &&
             audit::internal::CheckpointSignatureValid(checkpoint, text) &&
             cards::PassesLuhn(text) && auth::internal::WellFormedToken(text, text);
  if (!all) return Fail(ErrorCode::kPermissionDenied, "test");

#ifdef DROP_status
  Step();
#endif
#ifdef DROP_result
  Count();
#endif
#ifdef DROP_member_status
  store.Write();
#endif
#ifdef DROP_lambda_status  // the type, not the function, is [[nodiscard]]
  [] { return Step(); }();
#endif
#ifdef DROP_and_then
  Count().and_then([](int v) -> Result<int> { return v; });
#endif
#ifdef DROP_constant_time_equals
  crypto::ConstantTimeEquals(text, text);
#endif
#ifdef DROP_key_equals
  a.ConstantTimeEquals(b);
#endif
#ifdef DROP_verify_signature
  crypto::VerifySignature(text, text, text);
#endif
#ifdef DROP_verify_password
  crypto::VerifyPassword(text, text);
#endif
#ifdef DROP_password_needs_rehash
  crypto::PasswordNeedsRehash(text, {});
#endif
#ifdef DROP_totp_verify
  auth::totp::Verify(text, text, 0, -1);
#endif
#ifdef DROP_checkpoint_signature
  audit::internal::CheckpointSignatureValid(checkpoint, text);
#endif
#ifdef DROP_luhn
  cards::PassesLuhn(text);
#endif
#ifdef DROP_token
  auth::internal::WellFormedToken(text, text);
#endif
  return Ok();
}

}  // namespace coffre
