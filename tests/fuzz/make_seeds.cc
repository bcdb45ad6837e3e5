// Writes the binary seeds of the fuzz corpora (tests/fuzz/corpus/): audit
// entries in their stored encoding and sealed files for the fuzz target's key.
// Run by hand after a format change: `build-fuzz/tests/fuzz/make_fuzz_seeds
// tests/fuzz/corpus`. Only made-up values: opaque ids, no personal data.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "audit/entry.h"
#include "crypto/crypto.h"
#include "crypto/sealed_file.h"

namespace {

using namespace coffre;

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) std::abort();
}

void Seal(const std::string& path, const std::string& public_key, const std::string& plain) {
  std::remove(path.c_str());
  auto w = crypto::SealedFileWriter::Create(path, public_key);
  if (!w || !(*w)->Write(plain) || !(*w)->Finish()) std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || !crypto::Init()) return 2;
  const std::string root = argv[1];

  // The key sealed_file_fuzz.cc opens with.
  const crypto::SecretKey key = *crypto::SecretKey::FromBytes(std::string(32, '\x42'));
  const std::string pk = crypto::BoxPublicKey(key);
  Seal(root + "/sealed_file_fuzz/empty.sealed", pk, "");
  Seal(root + "/sealed_file_fuzz/ndjson.sealed", pk, "{\"id\":\"r1\"}\n{\"id\":\"r2\"}\n");
  // No multi-chunk seed: 64 KiB inputs would slow every mutation (the unit
  // tests cover chunking).

  const std::string rid(16, '\x01');
  const std::string sid(16, '\x02');
  audit::Entry read{.seq = 7,
                    .time_ms = 1795000000000,
                    .principal = "billing-svc",
                    .action = "read",
                    .collection = "people",
                    .record_id = rid,
                    .subjects = {sid},
                    .fields = {{"email", 'm'}, {"name", 'c'}},
                    .purpose = "invoice",
                    .outcome = "allowed",
                    .source = "https:127.0.0.1"};
  Write(root + "/entry_fuzz/read.entry", audit::EncodeEntry(read));
  audit::Entry denied{.seq = 8,
                      .time_ms = 1795000000001,
                      .principal = "agent",
                      .on_behalf_of = "user-1",
                      .action = "search",
                      .collection = "people",
                      .purpose = "support",
                      .outcome = "denied",
                      .reason = "no_rule",
                      .source = "cli:uid=1000"};
  Write(root + "/entry_fuzz/denied.entry", audit::EncodeEntry(denied));
  audit::Entry erase{.seq = 9,
                     .time_ms = 1795000000002,
                     .principal = "dpo",
                     .action = "erase",
                     .subjects = {sid, std::string(16, '\x03')},
                     .outcome = "allowed",
                     .source = "admin"};
  Write(root + "/entry_fuzz/erase.entry", audit::EncodeEntry(erase));
  audit::Entry minimal{.action = "unauthenticated", .outcome = "denied"};
  Write(root + "/entry_fuzz/minimal.entry", audit::EncodeEntry(minimal));
  return 0;
}
