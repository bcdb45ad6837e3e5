// Errors as values for every coffre module.
//
// A function that can fail returns `Status` (no value) or `Result<T>`
// (tl::expected<T, Error>). Error codes form one closed set; front ends map
// them to exit codes (cli) or HTTP statuses (api) and nowhere else.
//
// Messages name the problem (a field, a rule, a file) and never carry a
// personal value: callers must not format user data into them.
//
//   Result<int> ParsePort(std::string_view s);
//   auto port = ParsePort("8443");
//   if (!port) return port.error();          // propagate
//   Use(*port);
//
// Thread-safety: plain values, safe to copy across threads.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace coffre {

enum class ErrorCode {
  kInvalidArgument,   // bad input from the caller: a field, a flag, a file
  kNotFound,          // no such record, subject, file
  kAlreadyExists,     // unique constraint, existing key file
  kPermissionDenied,  // wrong key file, policy denial
  kFailedPrecondition,// vault not initialised, wrong state
  kDataLoss,          // authentication tag mismatch, corrupt store
  kIoError,           // file system or storage backend failure
  kInternal,          // a bug in coffre
  kUnauthenticated,   // no, unknown or expired credential
  kResourceExhausted, // throttled, locked out, over a limit or cap
};

std::string_view ErrorCodeName(ErrorCode code);

struct [[nodiscard]] Error {
  ErrorCode code;
  std::string message;

  std::string ToString() const;
};

template <typename T>
using Result = tl::expected<T, Error>;

// Status is Result<void>: `Status s = Ok();`, `if (!s) return s;`.
using Status = Result<void>;

[[nodiscard]] inline Status Ok() { return {}; }

[[nodiscard]] inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

[[nodiscard]] inline tl::unexpected<Error> Fail(Error e) {
  return tl::unexpected<Error>(std::move(e));
}

}  // namespace coffre

// COFFRE_TRY(expr): evaluate a Status/Result and return its error if it failed.
#define COFFRE_TRY(expr)                                   \
  do {                                                     \
    auto coffre_try_result_ = (expr);                      \
    if (!coffre_try_result_) return ::coffre::Fail(std::move(coffre_try_result_).error()); \
  } while (0)

#define COFFRE_CONCAT_INNER_(a, b) a##b
#define COFFRE_CONCAT_(a, b) COFFRE_CONCAT_INNER_(a, b)
// COFFRE_ASSIGN_OR_RETURN(auto x, expr): bind the value of a Result or return its error.
#define COFFRE_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto COFFRE_CONCAT_(coffre_res_, __LINE__) = (expr);                       \
  if (!COFFRE_CONCAT_(coffre_res_, __LINE__))                                \
    return ::coffre::Fail(std::move(COFFRE_CONCAT_(coffre_res_, __LINE__)).error()); \
  lhs = std::move(*COFFRE_CONCAT_(coffre_res_, __LINE__))  // NOLINT(bugprone-macro-parentheses): lhs declares
