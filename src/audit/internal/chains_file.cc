#include "audit/internal/chains_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <vector>

#include "audit/internal/format.h"
#include "common/bytes.h"

namespace coffre::audit::internal {
namespace {

constexpr std::string_view kMagic = "coffre-audit-chains v1 ";

Error FileError(const char* what, const std::string& path) {
  return Error{ErrorCode::kIoError, std::string(what) + " " + path + ": " + std::strerror(errno)};
}

Status WriteAllAndSync(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(FileError("cannot write", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd) != 0) return Fail(FileError("cannot sync", path));
  return Ok();
}

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    size_t sp = line.find(' ');
    out.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  return out;
}

std::optional<std::string> Raw(std::string_view hex, size_t bytes) {
  if (hex.size() != bytes * 2) return std::nullopt;
  auto raw = FromHex(hex);
  if (!raw) return std::nullopt;
  return std::move(*raw);
}

template <typename T>
bool Number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string ChainsPath(const std::string& anchor_path) { return anchor_path + ".chains"; }

Status CreateChainsFile(const std::string& path, std::string_view public_key) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Fail(ErrorCode::kAlreadyExists,
                  "audit chain registry anchor " + path + " already exists");
    }
    return Fail(FileError("cannot create", path));
  }
  Status s = WriteAllAndSync(fd, std::string(kMagic) + ToHex(public_key) + "\n", path);
  ::close(fd);
  return s;
}

Result<ChainsFile> ReadChainsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) {
      return Fail(ErrorCode::kNotFound, "no audit chain registry anchor at " + path);
    }
    return Fail(FileError("cannot open", path));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ChainsFile f;
  size_t nl = text.find('\n');
  std::string_view header =
      nl == std::string::npos ? std::string_view() : std::string_view(text).substr(0, nl);
  auto key = header.starts_with(kMagic) ? Raw(header.substr(kMagic.size()), 32) : std::nullopt;
  if (!key) {
    return Fail(ErrorCode::kDataLoss, "file " + path + " is not a coffre audit chain registry");
  }
  f.public_key = std::move(*key);
  size_t pos = nl + 1;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) break;  // torn: never acknowledged
    auto w = Words(std::string_view(text).substr(pos, end - pos));
    pos = end + 1;
    if (w.size() != 4) continue;
    auto chain = Raw(w[1], kIdBytes);
    if (!chain) continue;
    if (w[0] == "chain") {
      auto h = Raw(w[2], kHashBytes);
      int64_t t = 0;
      if (h && Number(w[3], t)) f.first[*chain] = std::move(*h);
    } else if (w[0] == "seen") {
      auto h = Raw(w[3], kHashBytes);
      uint64_t seq = 0;
      if (h && Number(w[2], seq)) {
        auto& s = f.seen[*chain];
        if (seq > s.first) s = {seq, std::move(*h)};
      }
    }
  }
  return f;
}

std::string ChainLine(std::string_view chain, std::string_view first_hash, int64_t time_ms) {
  return "chain " + ToHex(chain) + " " + ToHex(first_hash) + " " + std::to_string(time_ms) + "\n";
}

std::string SeenLine(std::string_view chain, uint64_t seq, std::string_view hash) {
  return "seen " + ToHex(chain) + " " + std::to_string(seq) + " " + ToHex(hash) + "\n";
}

Status AppendChainsLines(const std::string& path, std::string_view lines) {
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (fd < 0) return Fail(FileError("cannot open", path));
  std::string data;
  // After a torn write, start a fresh line (the torn bytes stay malformed).
  off_t size = ::lseek(fd, 0, SEEK_END);
  char last = '\n';
  if (size > 0 && ::pread(fd, &last, 1, size - 1) == 1 && last != '\n') data += '\n';
  data.append(lines);
  Status s = WriteAllAndSync(fd, data, path);
  ::close(fd);
  return s;
}

}  // namespace coffre::audit::internal
