// Errors as values for every coffre module.
//
// A function that can fail returns `Status` (no value) or `Result<T>`
// (tl::expected<T, Error>, [[nodiscard]]: neither can be dropped). Error
// codes form one closed set; front ends map them to exit codes (cli) or HTTP
// statuses (api) and nowhere else.
//
// Messages name the problem (a field, a rule, a file) and never carry a
// personal value: callers must not format user data into them.
//
//   Result<int> ParsePort(std::string_view s);
//   auto port = ParsePort("8443");
//   if (!port) return Fail(port.error());    // propagate
//   Use(*port);
//
// Thread-safety: plain values, safe to copy across threads.
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <type_traits>
#include <utility>

namespace coffre {

enum class ErrorCode {
  kInvalidArgument,     // bad input from the caller: a field, a flag, a file
  kNotFound,            // no such record, subject, file
  kAlreadyExists,       // unique constraint, existing key file
  kPermissionDenied,    // wrong key file, policy denial
  kFailedPrecondition,  // vault not initialised, wrong state
  kDataLoss,            // authentication tag mismatch, corrupt store
  kIoError,             // file system or storage backend failure
  kInternal,            // a bug in coffre
  kUnauthenticated,     // no, unknown or expired credential
  kResourceExhausted,   // throttled, locked out, over a limit or cap
};

std::string_view ErrorCodeName(ErrorCode code);

struct [[nodiscard]] Error {
  ErrorCode code;
  std::string message;

  std::string ToString() const;
};

// Result<T> is tl::expected<T, Error> marked [[nodiscard]]: a call whose
// Result or Status is dropped does not compile (-Werror=unused-result; see
// tests/nodiscard). It adds no member and no virtual function, so it has the
// layout and cost of tl::expected; it inherits tl::expected's constructors,
// forwards its assignments, and a plain tl::expected<T, Error> (what .map
// returns) converts to it. To drop one on purpose, write
// `(void)f();  // why it is safe`.
template <typename T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
 public:
  using Base = tl::expected<T, Error>;
  using Base::Base;

  Result() = default;
  Result(const Base& other) : Base(other) {}
  Result(Base&& other) noexcept(std::is_nothrow_move_constructible_v<Base>)
      : Base(std::move(other)) {}

  // Assigning a value or a tl::unexpected<Error> goes straight to
  // tl::expected's assignment (no temporary Result).
  template <typename U>
  requires(!std::is_base_of_v<Base, std::remove_cvref_t<U>> &&
           std::is_assignable_v<Base&, U&&>) Result&
  operator=(U&& other) {
    Base::operator=(std::forward<U>(other));
    return *this;
  }
};

static_assert(sizeof(Result<int>) == sizeof(tl::expected<int, Error>), "Result adds no member");

// Status is Result<void>: `Status s = Ok();`, `if (!s) return s;`.
using Status = Result<void>;

[[nodiscard]] inline Status Ok() { return {}; }

[[nodiscard]] inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

[[nodiscard]] inline tl::unexpected<Error> Fail(Error e) {
  return tl::unexpected<Error>(std::move(e));
}

// The absent-record test: true when `r` failed with kNotFound (no such
// record, key, file), the one failure callers commonly treat as an answer.
template <typename T>
[[nodiscard]] bool IsNotFound(const tl::expected<T, Error>& r) {
  return !r && r.error().code == ErrorCode::kNotFound;
}

}  // namespace coffre

// and_then/or_else take a continuation that returns an expected: a Result is
// one (tests/nodiscard checks that this keeps compiling).
template <typename T>
struct tl::detail::is_expected_impl<coffre::Result<T>> : std::true_type {};

// COFFRE_TRY(expr): evaluate a Status/Result and return its error if it failed.
#define COFFRE_TRY(expr)                                                                   \
  do {                                                                                     \
    auto coffre_try_result_ = (expr);                                                      \
    if (!coffre_try_result_) return ::coffre::Fail(std::move(coffre_try_result_).error()); \
  } while (0)

#define COFFRE_CONCAT_INNER_(a, b) a##b
#define COFFRE_CONCAT_(a, b) COFFRE_CONCAT_INNER_(a, b)
// COFFRE_ASSIGN_OR_RETURN(auto x, expr): bind the value of a Result or return its error.
// clang-format off
#define COFFRE_ASSIGN_OR_RETURN(lhs, expr)                                           \
  auto COFFRE_CONCAT_(coffre_res_, __LINE__) = (expr);                               \
  if (!COFFRE_CONCAT_(coffre_res_, __LINE__))                                        \
    return ::coffre::Fail(std::move(COFFRE_CONCAT_(coffre_res_, __LINE__)).error()); \
  lhs = std::move(*COFFRE_CONCAT_(coffre_res_, __LINE__))  // NOLINT(bugprone-macro-parentheses): lhs declares
// clang-format on
