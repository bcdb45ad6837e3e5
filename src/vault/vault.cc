#include "vault/vault.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/key_file.h"
#include "schema/security_code.h"
#include "vault/erasure_journal.h"
#include "vault/format_version.h"
#include "vault/internal/layout.h"
#include "vault/record_sealer.h"

namespace coffre::vault {
namespace fs = std::filesystem;
using storage::Space;

void EncodeFields(const std::vector<FieldValue>& fields, std::string& out) {
  for (const FieldValue& f : fields) {
    AppendLengthPrefixed(out, f.name);
    AppendLengthPrefixed(out, f.value);
  }
}

Result<std::vector<FieldValue>> DecodeFields(std::string_view plaintext) {
  std::vector<FieldValue> fields;
  while (!plaintext.empty()) {
    std::string_view name, value;
    if (!ReadLengthPrefixed(plaintext, name) || !ReadLengthPrefixed(plaintext, value)) {
      return Fail(ErrorCode::kDataLoss, "record plaintext is malformed");
    }
    fields.push_back({std::string(name), std::string(value)});
  }
  return fields;
}

namespace {

constexpr std::string_view kStoreHoldsAVault =
    "the store already holds a vault: init creates a new one; to serve that vault from "
    "another node, use coffre join DIR --store URL --key-file KEY";

// Field names come from callers; show them only when they look like names.
std::string ShownFieldName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) ok = false;
  }
  return ok ? "'" + std::string(name) + "'" : "(name not shown)";
}

bool IsInside(const fs::path& file, const fs::path& dir) {
  auto f = fs::weakly_canonical(fs::absolute(file));
  auto d = fs::weakly_canonical(fs::absolute(dir));
  auto [d_end, f_it] = std::mismatch(d.begin(), d.end(), f.begin(), f.end());
  return d_end == d.end();
}

// Subjects select entries by key prefix: anything but a whole id could match
// (and erase) other people.
Status CheckSubject(std::string_view subject) {
  if (subject.size() != kIdBytes)
    return Fail(ErrorCode::kInvalidArgument, "a subject id is 16 bytes");
  return Ok();
}

Result<const schema::Collection*> FindCollection(const schema::Schema& s, std::string_view name) {
  const schema::Collection* c = s.Find(name);
  if (c == nullptr) {
    return Fail(ErrorCode::kNotFound, "unknown collection " + ShownFieldName(name));
  }
  return c;
}

// The spaces the vault's own deletions touch; erasers add theirs.
constexpr Space kDeletedSpaces[] = {Space::kKeys, Space::kRecords, Space::kIndex, Space::kSubjects,
                                    Space::kArchive};

// The erasers' journal kinds and the spaces deletions touch; refuses
// erasers whose names, words or tags clash (a replay would be ambiguous).
Status RegisterErasers(const std::vector<Eraser*>& erasers, std::vector<JournalKind>& kinds,
                       std::vector<Space>& spaces) {
  spaces.assign(std::begin(kDeletedSpaces), std::end(kDeletedSpaces));
  std::vector<std::string_view> names;
  for (const Eraser* e : erasers) {
    if (e == nullptr) return Fail(ErrorCode::kInvalidArgument, "a null eraser was registered");
    if (std::find(names.begin(), names.end(), e->name()) != names.end()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "two erasers are named '" + std::string(e->name()) + "'");
    }
    names.push_back(e->name());
    for (const JournalKind& k : e->journal_kinds()) {
      for (const JournalKind& other : kinds) {
        if (other.word == k.word || other.tag == k.tag) {
          return Fail(ErrorCode::kInvalidArgument,
                      "eraser '" + std::string(e->name()) + "' declares journal kind '" +
                          std::string(k.word) + "', whose word or tag another kind has");
        }
      }
      kinds.push_back(k);
    }
    for (Space sp : e->spaces()) {
      if (std::find(spaces.begin(), spaces.end(), sp) == spaces.end()) spaces.push_back(sp);
    }
  }
  return Ok();
}

Result<std::string> GetRequiredMeta(storage::Store& store, std::string_view key) {
  COFFRE_ASSIGN_OR_RETURN(auto v, store.Get(Space::kMeta, key));
  if (!v)
    return Fail(ErrorCode::kFailedPrecondition, "the directory is not an initialised coffre vault");
  return std::move(*v);
}

}  // namespace

Vault::~Vault() = default;

Result<bool> StoreHoldsVault(storage::Store& store) {
  COFFRE_ASSIGN_OR_RETURN(auto format, store.Get(Space::kMeta, layout::kMetaFormat));
  return format.has_value();
}

std::string Vault::AppliedKey() const {
  if (options_.node_id.empty()) return std::string(layout::kMetaErasuresApplied);
  return std::string(layout::kMetaErasuresApplied) + "/" + options_.node_id;
}

Result<InitResult> Vault::Init(const InitOptions& o) {
  COFFRE_TRY(crypto::Init());
  COFFRE_ASSIGN_OR_RETURN(schema::Schema schema, schema::Schema::LoadFile(o.schema_path));
  std::error_code ec;
  bool dir_existed = fs::exists(o.dir, ec);
  if (dir_existed && (!fs::is_directory(o.dir, ec) || !fs::is_empty(o.dir, ec))) {
    return Fail(ErrorCode::kAlreadyExists,
                "data directory " + o.dir + " exists and is not empty; init creates a new vault");
  }
  const bool in_token = !o.key_pkcs11.empty();
  if (!in_token && IsInside(o.key_file, o.dir)) {
    return Fail(ErrorCode::kInvalidArgument,
                "key file " + o.key_file + " is inside the data directory; keep it outside");
  }
  if (!o.erasure_journal.empty()) {
    if (IsInside(o.erasure_journal, o.dir)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "erasure journal " + o.erasure_journal +
                      " is inside the data directory; keep it outside");
    }
    if (fs::exists(o.erasure_journal, ec)) {
      return Fail(ErrorCode::kAlreadyExists,
                  "erasure journal " + o.erasure_journal +
                      " already exists (another vault's?); choose another with --erasure-journal");
    }
  }
  // The token key first: a wrong URI, PIN or token leaves nothing behind.
  // (A key it created stays in the token: harmless, the next init uses it.)
  std::unique_ptr<MasterKey> master;
  if (in_token) {
    COFFRE_ASSIGN_OR_RETURN(master,
                            MasterKeyInToken(o.key_pkcs11, crypto::TokenKey::kCreateIfAbsent));
  } else {
    COFFRE_TRY(crypto::CreateKeyFile(o.key_file));
  }

  // From here on, any failure removes what init created: nothing half-written.
  bool journal_created = false;
  auto undo = [&](Error e) -> Result<InitResult> {
    if (!in_token) fs::remove(o.key_file, ec);
    if (journal_created) fs::remove(o.erasure_journal, ec);
    if (dir_existed) {
      for (auto& entry : fs::directory_iterator(o.dir, ec)) fs::remove_all(entry.path(), ec);
    } else {
      fs::remove_all(o.dir, ec);
    }
    return Fail(std::move(e));
  };
  if (!dir_existed) {
    if (!fs::create_directories(o.dir, ec)) {
      return undo(Error{ErrorCode::kIoError, "cannot create data directory " + o.dir});
    }
  }
  ::chmod(o.dir.c_str(), 0700);
  if (!in_token) {
    auto key = crypto::LoadKeyFile(o.key_file);
    if (!key) return undo(key.error());
    master = MasterKeyInMemory(std::move(*key), o.key_file);
  }
  auto store = o.store ? o.store({.path = o.dir, .create_if_missing = true})
                       : storage::OpenRocksStore({.path = o.dir, .create_if_missing = true});
  if (!store) return undo(store.error());

  std::string vault_id = crypto::RandomString(kIdBytes);
  // Everything the new vault holds, in one batch.
  auto fill = [&](storage::WriteBatch& batch) -> Status {
    batch.Put(Space::kMeta, layout::kMetaFormat, std::to_string(kFormatVersion));
    batch.Put(Space::kMeta, layout::kMetaVaultId, vault_id);
    batch.Put(Space::kMeta, layout::kMetaSchema, schema.source());
    COFFRE_ASSIGN_OR_RETURN(std::string kcv, master->KeyCheck(vault_id));
    batch.Put(Space::kMeta, layout::kMetaKeyCheck, kcv);
    // A key-file vault writes none, as before the field existed.
    if (in_token) batch.Put(Space::kMeta, layout::kMetaKeySource, master->source());
    COFFRE_ASSIGN_OR_RETURN(Keyring ring,
                            Keyring::LoadOrCreate(**store, batch, vault_id, *master, schema));
    for (const auto& [name, value] : o.config) {
      batch.Put(Space::kMeta, std::string(layout::kConfigPrefix) + name, value);
    }
    for (const auto& [name, value] : o.secrets) {
      batch.Put(Space::kMeta, std::string(layout::kSecretPrefix) + name,
                crypto::Seal(ring.secrets_key(), value, layout::SecretAad(vault_id, name)));
    }
    return Ok();
  };
  // A shared store (a cluster's database) may already hold a vault, or get
  // one from another init at the same moment: checked and written in one
  // transaction, under one lock, so that exactly one init wins.
  const bool shared = (*store)->shared();
  auto batch = (*store)->NewBatch();
  if (!shared) {
    if (auto s = fill(*batch); !s) return undo(s.error());
  } else if (auto held = StoreHoldsVault(**store); !held || *held) {
    return undo(held ? Error{ErrorCode::kAlreadyExists, std::string(kStoreHoldsAVault)} : held.error());
  }
  if (!o.erasure_journal.empty()) {
    auto journal = ErasureJournal::Create(o.erasure_journal, vault_id);
    if (!journal) return undo(journal.error());
    journal_created = true;
  }
  Status written = shared ? (*store)->Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock("m/init"));
    COFFRE_ASSIGN_OR_RETURN(auto format, t.Get(Space::kMeta, layout::kMetaFormat));
    if (format) return Fail(ErrorCode::kAlreadyExists, std::string(kStoreHoldsAVault));
    return fill(t.batch());
  })
                          : (*store)->Write(*batch);
  if (!written) return undo(written.error());
  return InitResult{vault_id};
}

Result<std::unique_ptr<Vault>> Vault::Open(const OpenOptions& o) {
  COFFRE_TRY(crypto::Init());
  std::unique_ptr<Vault> v(new Vault());
  v->options_ = o;
  v->clock_ = o.clock != nullptr ? o.clock : &DefaultClock();
  COFFRE_TRY(RegisterErasers(o.erasers, v->journal_kinds_, v->deleted_spaces_));
  // Said first: a mistyped DIR is not a missing key file.
  if (std::error_code ec; !fs::is_directory(o.dir, ec)) {
    return Fail(ErrorCode::kNotFound, "no vault at " + o.dir);
  }
  COFFRE_ASSIGN_OR_RETURN(
      v->store_, o.store ? o.store({.path = o.dir, .read_only = o.read_only})
                         : storage::OpenRocksStore({
                               .path = o.dir,
                               .create_if_missing = false,
                               .read_only = o.read_only,
                               .disable_compression_everywhere = o.disable_compression_everywhere,
                               .write_buffer_bytes = o.write_buffer_bytes,
                               .row_cache_bytes = o.row_cache_bytes,
                           }));
  COFFRE_ASSIGN_OR_RETURN(std::string format, GetRequiredMeta(*v->store_, layout::kMetaFormat));
  if (format != std::to_string(kFormatVersion)) {
    return Fail(ErrorCode::kFailedPrecondition, "vault format " + format + " is not supported");
  }
  COFFRE_ASSIGN_OR_RETURN(v->vault_id_, GetRequiredMeta(*v->store_, layout::kMetaVaultId));
  COFFRE_ASSIGN_OR_RETURN(std::string kcv, GetRequiredMeta(*v->store_, layout::kMetaKeyCheck));
  // The key source the vault records (docs/key-hierarchy.md): the other
  // kind of key is refused with what the vault needs, not "wrong key".
  COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> key_source,
                          v->store_->Get(Space::kMeta, layout::kMetaKeySource));
  const bool vault_in_token = key_source && key_source->starts_with(kPkcs11KeySourcePrefix);
  if (key_source && !vault_in_token && *key_source != kFileKeySource) {
    return Fail(ErrorCode::kFailedPrecondition, "the vault's key source is of an unknown kind");
  }
  if (vault_in_token && o.key_pkcs11.empty()) {
    return Fail(ErrorCode::kPermissionDenied,
                "this vault's master key is in a PKCS#11 token (" + *key_source +
                    "): open it with --key-pkcs11 URI (or COFFRE_KEY_PKCS11), not a key file");
  }
  if (!vault_in_token && !o.key_pkcs11.empty()) {
    return Fail(ErrorCode::kPermissionDenied,
                "this vault's master key is a key file, not a PKCS#11 token key: open it with "
                "--key-file (to move the key into a token: coffre keys rotate --new-key-pkcs11)");
  }
  if (vault_in_token) {
    COFFRE_ASSIGN_OR_RETURN(v->master_,
                            MasterKeyInToken(o.key_pkcs11, crypto::TokenKey::kOpenExisting));
    COFFRE_ASSIGN_OR_RETURN(bool opens, v->master_->Opens(kcv, v->vault_id_));
    if (!opens) {
      return Fail(ErrorCode::kPermissionDenied,
                  v->master_->name() + " does not open this vault (wrong key)");
    }
  } else if (o.master_key != nullptr) {
    // Recombined from Shamir shares by a sealed server (docs/key-custody.md).
    v->master_ = MasterKeyInMemory(o.master_key->Clone(), "recombined from shares");
    COFFRE_ASSIGN_OR_RETURN(bool opens, v->master_->Opens(kcv, v->vault_id_));
    if (!opens) {
      return Fail(ErrorCode::kPermissionDenied, "the recombined key does not open this vault");
    }
  } else {
    auto key = crypto::LoadKeyFile(o.key_file);
    if (!key) {
      // No key file, because the key was split into shares: say what to do.
      if (key.error().code == ErrorCode::kNotFound) {
        COFFRE_ASSIGN_OR_RETURN(auto shares, ReadShareSet(*v->store_));
        if (shares) {
          return Fail(ErrorCode::kFailedPrecondition,
                      "the master key of " + o.dir +
                          " is split into Shamir shares (no key file): start coffre serve " +
                          o.dir + ", unseal it with coffre unseal " + o.dir +
                          ", and commands then run through the server");
        }
      }
      return Fail(key.error());
    }
    v->master_ = MasterKeyInMemory(std::move(*key), o.key_file);
    COFFRE_ASSIGN_OR_RETURN(bool opens, v->master_->Opens(kcv, v->vault_id_));
    if (!opens) {
      // A rotation in place that crashed after its commit left the new key
      // in KEY.new: finish it (ADR 0016).
      const std::string pending = PendingKeyFile(o.key_file);
      std::error_code ec;
      auto next = fs::exists(pending, ec)
                      ? crypto::LoadKeyFile(pending)
                      : Result<crypto::SecretKey>(Fail(ErrorCode::kNotFound, ""));
      std::unique_ptr<MasterKey> next_master;
      if (next) next_master = MasterKeyInMemory(std::move(*next), o.key_file);
      auto next_opens = next_master ? next_master->Opens(kcv, v->vault_id_) : Result<bool>(false);
      if (!next_opens || !*next_opens) {
        return Fail(ErrorCode::kPermissionDenied,
                    "the key file " + o.key_file + " does not open this vault (wrong key file)");
      }
      if (!o.read_only)
        COFFRE_TRY(FinishKeyFileRotation(o.key_file, v->clock_->NowUnixSeconds(), nullptr));
      v->master_ = std::move(next_master);
    }
  }
  COFFRE_ASSIGN_OR_RETURN(std::string source, GetRequiredMeta(*v->store_, layout::kMetaSchema));
  COFFRE_ASSIGN_OR_RETURN(v->schema_, schema::Schema::Parse(source, "stored schema"));
  auto batch = v->store_->NewBatch();
  COFFRE_ASSIGN_OR_RETURN(v->keyring_, Keyring::LoadOrCreate(*v->store_, *batch, v->vault_id_,
                                                             *v->master_, v->schema_));
  if (batch->Count() > 0) {
    if (o.read_only)
      return Fail(ErrorCode::kFailedPrecondition, "the vault's keyring is incomplete");
    COFFRE_TRY(v->store_->Write(*batch));
  }
  if (!o.read_only) {
    // Sorted files of an import that crashed hold sealed records and
    // wrapped keys: never leave them beside the live data.
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(o.dir, ec)) {
      if (entry.path().filename().string().rfind(layout::kImportDirPrefix, 0) == 0) {
        fs::remove_all(entry.path(), ec);
      }
    }
    if (!o.erasure_journal.empty()) COFFRE_TRY(v->ReplayErasureJournal());
    COFFRE_TRY(v->FinishPendingCompaction());
  }
  return v;
}

Result<storage::SpaceHandle> Vault::Grant(const char* module, storage::SpaceSet writable,
                                          storage::SpaceSet read_only) {
  // The vault's own spaces: what it holds is only reached through its API.
  constexpr storage::SpaceSet kVaultSpaces =
      storage::Spaces({Space::kMeta, Space::kKeys, Space::kRecords, Space::kIndex, Space::kSubjects,
                       Space::kArchive});
  constexpr storage::SpaceSet kKnown = (storage::SpaceSet{1} << storage::kSpaceCount) - 1;
  const storage::SpaceSet asked = writable | read_only;
  if ((asked & kVaultSpaces) != 0 || (asked & ~kKnown) != 0) {
    return Fail(ErrorCode::kInternal,
                "module '" + std::string(module) + "' asked for spaces the vault does not grant");
  }
  return storage::SpaceHandle(*store_, module, writable, read_only);
}

Status Vault::PutConfig(std::string_view name, std::string_view value) {
  auto batch = store_->NewBatch();
  batch->Put(Space::kMeta, std::string(layout::kConfigPrefix) + std::string(name), value);
  return store_->Write(*batch);
}

Result<std::optional<std::string>> Vault::GetConfig(std::string_view name) {
  return store_->Get(Space::kMeta, std::string(layout::kConfigPrefix) + std::string(name));
}

Status Vault::PutSecret(std::string_view name, std::string_view plaintext) {
  auto batch = store_->NewBatch();
  batch->Put(Space::kMeta, std::string(layout::kSecretPrefix) + std::string(name),
             crypto::Seal(keyring_.secrets_key(), plaintext, layout::SecretAad(vault_id_, name)));
  return store_->Write(*batch);
}

Status Vault::PutSettings(const std::vector<std::pair<std::string, std::string>>& config,
                          const std::vector<std::pair<std::string, std::string>>& secrets) {
  auto batch = store_->NewBatch();
  for (const auto& [name, value] : config)
    batch->Put(Space::kMeta, std::string(layout::kConfigPrefix) + name, value);
  for (const auto& [name, plaintext] : secrets) {
    batch->Put(Space::kMeta, std::string(layout::kSecretPrefix) + name,
               crypto::Seal(keyring_.secrets_key(), plaintext, layout::SecretAad(vault_id_, name)));
  }
  return store_->Write(*batch);
}

Result<std::optional<std::string>> Vault::GetSecret(std::string_view name) {
  COFFRE_ASSIGN_OR_RETURN(
      auto sealed,
      store_->Get(Space::kMeta, std::string(layout::kSecretPrefix) + std::string(name)));
  if (!sealed) return std::optional<std::string>();
  COFFRE_ASSIGN_OR_RETURN(std::string plain,
                          crypto::Open(keyring_.secrets_key(), *sealed,
                                       layout::SecretAad(vault_id_, name), "vault secret"));
  return std::optional<std::string>(std::move(plain));
}

Result<std::vector<FieldValue>> Vault::Validate(const schema::Collection& c,
                                                const std::vector<NamedInput>& inputs) const {
  std::vector<FieldValue> out;
  COFFRE_TRY(ValidateInto(c, inputs, out));
  return out;
}

Status Vault::ValidateInto(const schema::Collection& c, const std::vector<NamedInput>& inputs,
                           std::vector<FieldValue>& out) const {
  // Each input's field, looked up once (on the stack for usual rows: this
  // is the import's hot path).
  constexpr size_t kInlineFields = 64;
  std::array<const schema::FieldDef*, kInlineFields> inline_defs;
  std::vector<const schema::FieldDef*> heap_defs;
  const schema::FieldDef** defs = inline_defs.data();
  if (inputs.size() > kInlineFields) {
    heap_defs.resize(inputs.size());
    defs = heap_defs.data();
  }
  // Rows usually name their fields in schema order: the field after the
  // previous one is tried first.
  for (size_t i = 0, next = 0; i < inputs.size(); ++i) {
    const schema::FieldDef* def = c.Find(inputs[i].first, next);
    defs[i] = def;
    if (def != nullptr) next = c.PositionOf(*def) + 1;
  }
  // The schema's rules on the row as a whole (incident 1's security code,
  // docs/cards.md) refuse it before any field's own rule looks at it.
  COFFRE_TRY(schema::CheckRowRules(inputs, defs));
  std::array<const schema::Input*, kInlineFields> inline_given{};
  std::vector<const schema::Input*> heap_given;
  const schema::Input** given = inline_given.data();
  if (c.fields.size() > kInlineFields) {
    heap_given.assign(c.fields.size(), nullptr);
    given = heap_given.data();
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& [name, input] = inputs[i];
    const schema::FieldDef* def = defs[i];
    if (def == nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  "field " + ShownFieldName(name) + ": unknown in collection '" + c.name + "'");
    }
    size_t pos = static_cast<size_t>(def - c.fields.data());
    if (given[pos] != nullptr) {
      return Fail(ErrorCode::kInvalidArgument, "field '" + def->name + "': given twice");
    }
    given[pos] = &input;
  }
  size_t n = 0;  // elements of `out` in use; the others keep their buffers for the next row
  for (size_t i = 0; i < c.fields.size(); ++i) {
    const schema::FieldDef& def = c.fields[i];
    const schema::Input* in = given[i];
    bool absent = in == nullptr || in->kind == schema::Input::Kind::kNull ||
                  (in->kind == schema::Input::Kind::kString && in->text.empty());
    if (absent) {
      if (def.required) {
        return Fail(ErrorCode::kInvalidArgument, "field '" + def.name + "': is required");
      }
      continue;
    }
    if (n == out.size()) out.emplace_back();
    FieldValue& f = out[n++];
    f.name.assign(def.name);
    f.value.clear();
    COFFRE_TRY(schema::NormalizeInto(def, *in, f.value));
  }
  out.resize(n);
  return Ok();
}

Result<crypto::SecretKey> Vault::LoadDataKey(std::string_view subject,
                                             std::string_view collection) {
  COFFRE_ASSIGN_OR_RETURN(auto v,
                          store_->Get(Space::kKeys, layout::DataKeyKey(subject, collection)));
  if (!v) return Fail(ErrorCode::kNotFound, "no data key (the subject was erased)");
  std::string_view value(*v);
  if (value.size() < 5 || value[0] != layout::kFormatV1) {
    return Fail(ErrorCode::kDataLoss, "wrapped data key has an unknown format");
  }
  if (ReadBigEndian32(value.substr(1)) != layout::kKekVersion) {
    return Fail(ErrorCode::kDataLoss, "wrapped data key uses an unknown key version");
  }
  std::string aad;
  layout::AppendDataKeyAad(aad, subject, collection);
  return crypto::UnwrapKey(keyring_.kek(), value.substr(5), aad, "data key");
}

Result<std::optional<crypto::SecretKey>> Vault::FindDataKey(std::string_view subject,
                                                            std::string_view collection) {
  auto key = LoadDataKey(subject, collection);
  if (key) return std::optional<crypto::SecretKey>(std::move(*key));
  if (IsNotFound(key)) return std::optional<crypto::SecretKey>();
  return Fail(key.error());
}

Result<RecordRef> Vault::Put(std::string_view collection, const std::vector<NamedInput>& inputs,
                             std::optional<std::string> subject) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  COFFRE_ASSIGN_OR_RETURN(std::vector<FieldValue> fields, Validate(*c, inputs));

  std::lock_guard lock(write_mu_);
  SealedRecord sealed;
  sealed.record_id = ids_.Next();
  crypto::SecretKey data_key;
  bool new_key = true;
  if (subject) {
    COFFRE_TRY(CheckSubject(*subject));
    bool known = false;
    COFFRE_TRY(store_->Scan(Space::kSubjects, *subject, [&](std::string_view, std::string_view) {
      known = true;
      return false;
    }));
    if (!known) return Fail(ErrorCode::kNotFound, "unknown subject");
    sealed.subject = *subject;
    auto existing = LoadDataKey(sealed.subject, c->name);
    if (existing) {
      data_key = std::move(*existing);
      new_key = false;
    } else if (!IsNotFound(existing)) {
      return Fail(existing.error());
    }
  } else {
    sealed.subject = ids_.Next();
  }
  if (new_key) data_key = crypto::SecretKey::Random();
  SealRecord(keyring_, *c, schema_.version(), fields, data_key, new_key, sealed);

  auto batch = store_->NewBatch();
  for (size_t i = 0; i < sealed.index.size(); ++i) {
    const IndexEntry& e = sealed.index[i];
    if (e.unique) {
      COFFRE_ASSIGN_OR_RETURN(auto clash, store_->Get(Space::kIndex, e.key));
      if (clash) {
        return Fail(ErrorCode::kAlreadyExists, UniqueClashMessage(c->fields[e.field].name));
      }
    }
    batch->Put(Space::kIndex, e.key, e.value);
  }
  if (new_key) batch->Put(Space::kKeys, sealed.data_key_key, sealed.data_key_value);
  batch->Put(Space::kRecords, sealed.record_key, sealed.record_value);
  batch->Put(Space::kSubjects, sealed.member_key, layout::MemberValue(clock_->NowUnixSeconds()));
  COFFRE_TRY(store_->Write(*batch));
  return RecordRef{sealed.record_id, sealed.subject};
}

Result<Record> Vault::OpenRecord(std::string_view collection, std::string_view record_id,
                                 std::string_view value) {
  if (value.size() < layout::kRecordHeaderBytes || value[0] != layout::kFormatV1) {
    return Fail(ErrorCode::kDataLoss, "stored record has an unknown format");
  }
  Record r;
  r.collection = std::string(collection);
  r.id = std::string(record_id);
  r.subject = std::string(value.substr(1, kIdBytes));
  uint32_t schema_version = ReadBigEndian32(value.substr(1 + kIdBytes));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretKey key, LoadDataKey(r.subject, collection));
  std::string aad;
  layout::AppendRecordAad(aad, collection, record_id, r.subject, schema_version);
  COFFRE_ASSIGN_OR_RETURN(
      std::string plain,
      crypto::Open(key, value.substr(layout::kRecordHeaderBytes), aad, "record"));
  auto fields = DecodeFields(plain);
  crypto::Wipe(plain.data(), plain.size());
  if (!fields) return Fail(fields.error());
  r.fields = std::move(*fields);
  return r;
}

Result<Record> Vault::Get(std::string_view collection, std::string_view record_id) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  COFFRE_ASSIGN_OR_RETURN(auto value,
                          store_->Get(Space::kRecords, layout::RecordKey(c->name, record_id)));
  if (!value) {
    return Fail(ErrorCode::kNotFound, "no record with this id in collection '" + c->name + "'");
  }
  auto r = OpenRecord(c->name, record_id, *value);
  if (IsNotFound(r)) {
    return Fail(ErrorCode::kNotFound, "no record with this id in collection '" + c->name + "'");
  }
  return r;
}

Result<std::vector<RecordRef>> Vault::Find(std::string_view collection, std::string_view field,
                                           const schema::Input& input, size_t limit) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  const schema::FieldDef* def = c->Find(field);
  if (def == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                "field " + ShownFieldName(field) + ": unknown in collection '" + c->name + "'");
  }
  const crypto::BlindIndexer* idx = keyring_.blind(c->name, def->name);
  if (idx == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "field '" + def->name + "': is not searchable");
  }
  COFFRE_ASSIGN_OR_RETURN(std::string value, schema::Normalize(*def, input));
  std::string prefix = layout::IndexPrefix(c->name, def->name, idx->Compute(value));
  std::vector<std::string> ids;
  COFFRE_TRY(store_->Scan(Space::kIndex, prefix, [&](std::string_view key, std::string_view v) {
    ids.emplace_back(key.size() == prefix.size() ? v : key.substr(prefix.size()));
    return ids.size() < limit;
  }));
  std::vector<RecordRef> refs;
  for (std::string& id : ids) {
    COFFRE_ASSIGN_OR_RETURN(auto rv, store_->Get(Space::kRecords, layout::RecordKey(c->name, id)));
    if (!rv || rv->size() < layout::kRecordHeaderBytes) continue;
    refs.push_back({std::move(id), rv->substr(1, kIdBytes)});
  }
  return refs;
}

Result<std::vector<Record>> Vault::RecordsOfSubject(std::string_view subject, Space space,
                                                    bool* known) {
  COFFRE_TRY(CheckSubject(subject));
  std::vector<std::pair<std::string, std::string>> members;  // collection, record id
  COFFRE_TRY(store_->Scan(Space::kSubjects, subject, [&](std::string_view key, std::string_view) {
    std::string_view collection, id;
    if (layout::ParseMemberKey(key, collection, id)) members.emplace_back(collection, id);
    return true;
  }));
  *known = !members.empty();
  std::vector<Record> records;
  for (auto& [collection, id] : members) {
    COFFRE_ASSIGN_OR_RETURN(auto v, store_->Get(space, layout::RecordKey(collection, id)));
    if (!v) continue;
    COFFRE_ASSIGN_OR_RETURN(Record r, OpenRecord(collection, id, *v));
    records.push_back(std::move(r));
  }
  return records;
}

Result<std::vector<Record>> Vault::ExportSubject(std::string_view subject) {
  bool known = false;
  COFFRE_ASSIGN_OR_RETURN(auto records, RecordsOfSubject(subject, Space::kRecords, &known));
  if (!known) return Fail(ErrorCode::kNotFound, "unknown subject");
  return records;
}

Result<std::vector<Record>> Vault::ArchivedOfSubject(std::string_view subject) {
  bool known = false;
  return RecordsOfSubject(subject, Space::kArchive, &known);
}

Result<std::vector<Record>> Vault::ListRecords(std::string_view collection, std::string_view after,
                                               size_t limit) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  return ListIn(Space::kRecords, *c, after, limit);
}

Result<std::vector<Record>> Vault::ListArchived(std::string_view collection, std::string_view after,
                                                size_t limit) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  return ListIn(Space::kArchive, *c, after, limit);
}

Result<std::vector<std::pair<std::string, std::string>>> Vault::ScanPage(
    Space space, const schema::Collection& c, std::string_view after, size_t limit) {
  if (!after.empty() && after.size() != kIdBytes) {
    return Fail(ErrorCode::kInvalidArgument, "a record id is 16 bytes");
  }
  const std::string prefix = layout::RecordKey(c.name, "");
  std::string begin = prefix;
  if (!after.empty()) {
    begin += after;
    begin.push_back('\0');  // just past `after`
  }
  std::string end = prefix;
  end.push_back('\xff');  // record ids are 16 bytes: every key of the collection sorts below
  // Keys first, records opened outside the scan.
  std::vector<std::pair<std::string, std::string>> found;  // id, stored value
  COFFRE_TRY(store_->ScanRangeOnce(space, begin, end, [&](std::string_view k, std::string_view v) {
    if (k.size() != prefix.size() + kIdBytes || k.substr(0, prefix.size()) != prefix) return true;
    found.emplace_back(k.substr(prefix.size()), v);
    return found.size() < limit;
  }));
  return found;
}

Result<RecordPage> Vault::WalkRecords(std::string_view collection, bool archived,
                                      std::string_view after, size_t limit) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  COFFRE_ASSIGN_OR_RETURN(auto found,
                          ScanPage(archived ? Space::kArchive : Space::kRecords, *c, after, limit));
  RecordPage page;
  page.more = found.size() >= limit;
  if (!found.empty()) page.last = found.back().first;
  for (auto& [id, value] : found) {
    auto r = OpenRecord(c->name, id, value);
    if (r) {
      page.records.push_back(std::move(*r));
    } else if (IsNotFound(r)) {
      ++page.gone;  // its data key went with an erasure or a deletion since the scan
    } else if (r.error().code == ErrorCode::kDataLoss) {
      page.unreadable.push_back(id);
    } else {
      return Fail(r.error());
    }
  }
  return page;
}

Result<std::vector<Record>> Vault::ListIn(Space space, const schema::Collection& collection,
                                          std::string_view after, size_t limit) {
  COFFRE_ASSIGN_OR_RETURN(auto found, ScanPage(space, collection, after, limit));
  std::vector<Record> records;
  records.reserve(found.size());
  for (auto& [id, value] : found) {
    COFFRE_ASSIGN_OR_RETURN(Record r, OpenRecord(collection.name, id, value));
    records.push_back(std::move(r));
  }
  return records;
}

Result<Record> Vault::Update(std::string_view collection, std::string_view record_id,
                             const std::vector<NamedInput>& changes) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  COFFRE_TRY(schema::CheckRowRules(changes, *c));
  std::lock_guard lock(write_mu_);
  COFFRE_ASSIGN_OR_RETURN(Record old, Get(c->name, record_id));
  // The record as it would be: a row rule broken over two writes (a
  // security code: a pan stored first, a lone "123" patched in later, or
  // the reverse) is refused like one sent whole, before any other rule
  // looks at the patch.
  // Under the lock, so no concurrent update slips in between.
  {
    std::vector<NamedInput> after(changes.begin(), changes.end());
    for (const auto& f : old.fields) {
      const schema::FieldDef* def = c->Find(f.name);
      if (def == nullptr) continue;  // not kept by the rewrite either
      const bool patched = std::any_of(changes.begin(), changes.end(), [&](const NamedInput& in) {
        return c->Find(in.first) == def;
      });
      if (!patched) after.emplace_back(def->name, schema::Input::String(f.value));
    }
    COFFRE_TRY(schema::CheckRowRules(after, *c));
  }
  std::vector<std::optional<std::string>> changed(c->fields.size());
  std::vector<bool> touched(c->fields.size(), false);
  for (const auto& [name, input] : changes) {
    const schema::FieldDef* def = c->Find(name);
    if (def == nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  "field " + ShownFieldName(name) + ": unknown in collection '" + c->name + "'");
    }
    size_t pos = static_cast<size_t>(def - c->fields.data());
    if (touched[pos])
      return Fail(ErrorCode::kInvalidArgument, "field '" + def->name + "': given twice");
    touched[pos] = true;
    bool absent = input.kind == schema::Input::Kind::kNull ||
                  (input.kind == schema::Input::Kind::kString && input.text.empty());
    if (absent) {
      if (def->required) {
        return Fail(ErrorCode::kInvalidArgument, "field '" + def->name + "': is required");
      }
      continue;
    }
    COFFRE_ASSIGN_OR_RETURN(std::string value, schema::Normalize(*def, input));
    changed[pos] = std::move(value);
  }

  const std::vector<std::string> old_keys = IndexKeysOf(keyring_, *c, old);
  std::vector<std::optional<std::string>> merged(c->fields.size());
  for (auto& f : old.fields) {
    if (const schema::FieldDef* def = c->Find(f.name)) {
      merged[static_cast<size_t>(def - c->fields.data())] = std::move(f.value);
    }
  }
  for (size_t i = 0; i < c->fields.size(); ++i) {
    if (touched[i]) merged[i] = std::move(changed[i]);
  }
  std::vector<FieldValue> fields;
  for (size_t i = 0; i < c->fields.size(); ++i) {
    if (merged[i]) fields.push_back({c->fields[i].name, std::move(*merged[i])});
  }
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretKey data_key, LoadDataKey(old.subject, c->name));
  SealedRecord sealed;
  sealed.record_id = std::string(record_id);
  sealed.subject = old.subject;
  SealRecord(keyring_, *c, schema_.version(), fields, data_key, false, sealed);

  auto batch = store_->NewBatch();
  for (const std::string& k : old_keys) {
    bool kept = std::any_of(sealed.index.begin(), sealed.index.end(),
                            [&](const IndexEntry& e) { return e.key == k; });
    if (!kept) batch->Delete(Space::kIndex, k);
  }
  for (const IndexEntry& e : sealed.index) {
    bool existed = std::find(old_keys.begin(), old_keys.end(), e.key) != old_keys.end();
    if (e.unique && !existed) {
      COFFRE_ASSIGN_OR_RETURN(auto clash, store_->Get(Space::kIndex, e.key));
      if (clash) {
        return Fail(ErrorCode::kAlreadyExists, UniqueClashMessage(c->fields[e.field].name));
      }
    }
    if (!existed) batch->Put(Space::kIndex, e.key, e.value);
  }
  batch->Put(Space::kRecords, sealed.record_key, sealed.record_value);
  batch->Put(Space::kSubjects, layout::MemberKey(old.subject, c->name, record_id),
             layout::MemberValue(clock_->NowUnixSeconds()));
  COFFRE_TRY(store_->Write(*batch));
  return Record{c->name, std::string(record_id), old.subject, std::move(fields)};
}

Status Vault::DeleteMembership(storage::WriteBatch& batch, std::string_view subject,
                               std::string_view collection, std::string_view record_id) {
  const std::string member = layout::MemberKey(subject, collection, record_id);
  batch.Delete(Space::kSubjects, member);
  // Other records of this subject in this collection (online or archived)
  // still need the key.
  std::string prefix(subject);
  AppendLengthPrefixed(prefix, collection);
  bool others = false;
  COFFRE_TRY(store_->Scan(Space::kSubjects, prefix, [&](std::string_view key, std::string_view) {
    if (key != member) {
      others = true;
      return false;
    }
    return true;
  }));
  if (!others) batch.Delete(Space::kKeys, layout::DataKeyKey(subject, collection));
  return Ok();
}

Status Vault::DeleteRecord(std::string_view collection, std::string_view record_id,
                           Compaction when) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  {
    std::lock_guard lock(write_mu_);
    COFFRE_ASSIGN_OR_RETURN(Record old, Get(c->name, record_id));
    auto batch = store_->NewBatch();
    for (const std::string& k : IndexKeysOf(keyring_, *c, old)) batch->Delete(Space::kIndex, k);
    batch->Delete(Space::kRecords, layout::RecordKey(c->name, record_id));
    COFFRE_TRY(DeleteMembership(*batch, old.subject, c->name, record_id));
    COFFRE_TRY(CommitDeletion({JournalEntry::Record(c->name, record_id)}, *batch));
  }
  return when == Compaction::kNow ? CompactDeleted() : Ok();
}

Result<std::optional<int64_t>> Vault::LastActivity(std::string_view subject,
                                                   std::string_view collection,
                                                   std::string_view record_id) {
  COFFRE_TRY(CheckSubject(subject));
  COFFRE_ASSIGN_OR_RETURN(
      auto v, store_->Get(Space::kSubjects, layout::MemberKey(subject, collection, record_id)));
  if (!v) return Fail(ErrorCode::kNotFound, "no such record");
  if (v->size() != 8) return std::optional<int64_t>();
  return std::optional<int64_t>(static_cast<int64_t>(ReadBigEndian64(*v)));
}

Result<bool> Vault::HasSubject(std::string_view subject) {
  COFFRE_TRY(CheckSubject(subject));
  bool known = false;
  COFFRE_TRY(store_->Scan(Space::kSubjects, subject, [&](std::string_view, std::string_view) {
    known = true;
    return false;
  }));
  return known;
}

Status Vault::StampUnknownActivity(std::string_view subject, std::string_view collection,
                                   std::string_view record_id, int64_t when) {
  std::lock_guard lock(write_mu_);
  COFFRE_ASSIGN_OR_RETURN(auto known, LastActivity(subject, collection, record_id));
  if (known) return Ok();
  auto batch = store_->NewBatch();
  batch->Put(Space::kSubjects, layout::MemberKey(subject, collection, record_id),
             layout::MemberValue(when));
  return store_->Write(*batch);
}

Status Vault::ArchiveRecord(std::string_view collection, std::string_view record_id) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  std::lock_guard lock(write_mu_);
  const std::string key = layout::RecordKey(c->name, record_id);
  COFFRE_ASSIGN_OR_RETURN(auto value, store_->Get(Space::kRecords, key));
  if (!value)
    return Fail(ErrorCode::kNotFound, "no record with this id in collection '" + c->name + "'");
  // Opened to find its index entries (keyed by the values).
  COFFRE_ASSIGN_OR_RETURN(Record old, OpenRecord(c->name, record_id, *value));
  auto batch = store_->NewBatch();
  for (const std::string& k : IndexKeysOf(keyring_, *c, old)) batch->Delete(Space::kIndex, k);
  batch->Delete(Space::kRecords, key);
  batch->Put(Space::kArchive, key, *value);
  return store_->Write(*batch);
}

Result<Record> Vault::GetArchived(std::string_view collection, std::string_view record_id) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  COFFRE_ASSIGN_OR_RETURN(auto value,
                          store_->Get(Space::kArchive, layout::RecordKey(c->name, record_id)));
  auto none = [&] {
    return Fail(ErrorCode::kNotFound,
                "no archived record with this id in collection '" + c->name + "'");
  };
  if (!value) return none();
  auto r = OpenRecord(c->name, record_id, *value);
  if (IsNotFound(r)) return none();
  return r;
}

Status Vault::DeleteArchived(std::string_view collection, std::string_view record_id,
                             Compaction when) {
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, FindCollection(schema_, collection));
  {
    std::lock_guard lock(write_mu_);
    const std::string key = layout::RecordKey(c->name, record_id);
    COFFRE_ASSIGN_OR_RETURN(auto value, store_->Get(Space::kArchive, key));
    if (!value || value->size() < layout::kRecordHeaderBytes) {
      return Fail(ErrorCode::kNotFound,
                  "no archived record with this id in collection '" + c->name + "'");
    }
    const std::string subject = value->substr(1, kIdBytes);
    auto batch = store_->NewBatch();
    batch->Delete(Space::kArchive, key);
    COFFRE_TRY(DeleteMembership(*batch, subject, c->name, record_id));
    COFFRE_TRY(CommitDeletion({JournalEntry::Record(c->name, record_id)}, *batch));
  }
  return when == Compaction::kNow ? CompactDeleted() : Ok();
}

namespace {

std::string AppliedValue(uint64_t count, std::string_view chain) {
  std::string v;
  AppendBigEndian64(v, count);
  v += chain;
  return v;
}

}  // namespace

Eraser* Vault::EraserOf(const JournalEntry& entry) const {
  if (entry.kind != JournalEntry::Kind::kModule) return nullptr;
  for (Eraser* e : options_.erasers) {
    for (const JournalKind& k : e->journal_kinds()) {
      if (entry.Is(k) && entry.tag == k.tag) return e;
    }
  }
  return nullptr;
}

Status Vault::CommitDeletion(const std::vector<JournalEntry>& entries, storage::WriteBatch& batch) {
  for (const JournalEntry& e : entries) {
    // One no registered eraser replays would stop the next open.
    if (e.kind == JournalEntry::Kind::kModule && EraserOf(e) == nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  "journal entries of kind '" + e.word + "' need the eraser that replays them");
    }
  }
  std::lock_guard lock(journal_mu_);
  if (deletion_uncommitted_) {
    return Fail(ErrorCode::kFailedPrecondition,
                "an earlier deletion is journalled but its commit failed: reopen the vault "
                "(restart the server) so that the erasure journal is replayed");
  }
  if (!options_.erasure_journal.empty() && !entries.empty()) {
    // Journal first: if we crash after the append, the next open replays it.
    // The file is re-read when its size is not the one this vault left, so
    // the applied count and chain describe the file as it is (another copy
    // put in place meanwhile included), not as it was at open.
    COFFRE_ASSIGN_OR_RETURN(auto journal,
                            ErasureJournal::Open(options_.erasure_journal, vault_id_));
    COFFRE_ASSIGN_OR_RETURN(uint64_t size, journal.Size());
    if (!journal_known_ || size != journal_size_) {
      COFFRE_ASSIGN_OR_RETURN(std::vector<JournalEntry> all, journal.ReadAll(journal_kinds_));
      journal_count_ = all.size();
      journal_chain_ = ErasureJournal::Chain(all, all.size());
    }
    journal_known_ = false;  // until every append below went through
    for (const JournalEntry& e : entries) {
      COFFRE_ASSIGN_OR_RETURN(size, journal.Append(e, clock_->NowUnixSeconds()));
      journal_chain_ = ErasureJournal::Extend(journal_chain_, e);
      ++journal_count_;
    }
    journal_size_ = size;
    journal_known_ = true;
    batch.Put(Space::kMeta, AppliedKey(), AppliedValue(journal_count_, journal_chain_));
  }
  batch.Put(Space::kMeta, layout::kMetaCompactionPending, "1");
  if (auto s = store_->Write(batch); !s) {
    // The journal holds entries the store may not: a later deletion would
    // write an applied count covering them, and the replay at open would
    // skip them. Until the next open replays them, deletions fail closed.
    if (!options_.erasure_journal.empty() && !entries.empty()) deletion_uncommitted_ = true;
    return s;
  }
  ++deletions_;
  return Ok();
}

Status Vault::CompactDeleted() {
  std::unique_lock lock(compact_mu_);
  const uint64_t mine = ++compact_requested_;
  while (compact_done_ < mine) {
    if (compact_running_) {
      compact_cv_.wait(lock);
      continue;
    }
    // This compaction starts after every deletion requested so far was
    // written: it serves all of them.
    compact_running_ = true;
    const uint64_t serves = compact_requested_;
    lock.unlock();
    Status s = CompactNow();
    lock.lock();
    compact_running_ = false;
    if (s) compact_done_ = std::max(compact_done_, serves);
    compact_cv_.notify_all();
    if (!s) return s;
  }
  return Ok();
}

Status Vault::CompactNow() {
  uint64_t before = 0;
  {
    std::lock_guard lock(journal_mu_);
    before = deletions_;
  }
  for (Space sp : deleted_spaces_) COFFRE_TRY(store_->CompactSpace(sp));
  COFFRE_TRY(store_->RollManifest());
  // A deletion committed during the compaction may have missed it: its
  // flag stays for the next compaction (or the next open).
  std::lock_guard lock(journal_mu_);
  if (deletions_ != before) return Ok();
  auto done = store_->NewBatch();
  done->Delete(Space::kMeta, layout::kMetaCompactionPending);
  return store_->Write(*done);
}

Result<EraseResult> Vault::CollectErasure(std::string_view subject, storage::WriteBatch& batch) {
  EraseResult result;
  std::vector<std::string> member_keys;
  COFFRE_TRY(store_->Scan(Space::kSubjects, subject, [&](std::string_view key, std::string_view) {
    member_keys.emplace_back(key);
    return true;
  }));
  for (const std::string& mk : member_keys) {
    std::string_view collection, rest;
    if (!layout::ParseMemberKey(mk, collection, rest)) continue;
    std::string record_key = layout::RecordKey(collection, rest);
    COFFRE_ASSIGN_OR_RETURN(auto v, store_->Get(Space::kRecords, record_key));
    if (v) {
      // Index entries are keyed by the values, so the record is opened to
      // find them; a record that no longer opens has no key left to shred.
      const schema::Collection* c = schema_.Find(collection);
      auto r = OpenRecord(collection, rest, *v);
      if (c != nullptr && r) {
        for (const std::string& ik : IndexKeysOf(keyring_, *c, *r)) batch.Delete(Space::kIndex, ik);
      }
      batch.Delete(Space::kRecords, record_key);
      ++result.records;
    }
    // Archived records go too (no index entries: archiving removed them).
    COFFRE_ASSIGN_OR_RETURN(auto archived, store_->Get(Space::kArchive, record_key));
    if (archived) {
      batch.Delete(Space::kArchive, record_key);
      ++result.records;
    }
    batch.Delete(Space::kSubjects, mk);
  }
  COFFRE_TRY(store_->Scan(Space::kKeys, subject, [&](std::string_view key, std::string_view) {
    batch.Delete(Space::kKeys, key);
    ++result.keys;
    return true;
  }));
  // Then what the modules keep about the subject, into the same batch.
  for (Eraser* e : options_.erasers) {
    COFFRE_ASSIGN_OR_RETURN(size_t n, e->AddErasure(subject, *store_, batch));
    result.by_eraser.emplace_back(e->name(), n);
  }
  return result;
}

Result<bool> Vault::CollectRecordDeletion(std::string_view collection, std::string_view record_id,
                                          storage::WriteBatch& batch) {
  const schema::Collection* c = schema_.Find(collection);
  if (c == nullptr) return false;  // no such collection: nothing of it is stored
  const std::string key = layout::RecordKey(c->name, record_id);
  std::string subject;
  COFFRE_ASSIGN_OR_RETURN(auto online, store_->Get(Space::kRecords, key));
  if (online && online->size() >= layout::kRecordHeaderBytes) {
    subject = online->substr(1, kIdBytes);
    // Opened to find its index entries (keyed by the values); one that no
    // longer opens has no data key left to shred.
    if (auto r = OpenRecord(c->name, record_id, *online)) {
      for (const std::string& ik : IndexKeysOf(keyring_, *c, *r)) batch.Delete(Space::kIndex, ik);
    }
    batch.Delete(Space::kRecords, key);
  }
  COFFRE_ASSIGN_OR_RETURN(auto archived, store_->Get(Space::kArchive, key));
  if (archived && archived->size() >= layout::kRecordHeaderBytes) {
    subject = archived->substr(1, kIdBytes);
    batch.Delete(Space::kArchive, key);
  }
  if (subject.empty()) return false;
  COFFRE_TRY(DeleteMembership(batch, subject, c->name, record_id));
  return true;
}

Result<EraseResult> Vault::EraseSubject(std::string_view subject) {
  COFFRE_TRY(CheckSubject(subject));
  EraseResult result;
  {
    std::lock_guard lock(write_mu_);
    auto batch = store_->NewBatch();
    COFFRE_ASSIGN_OR_RETURN(result, CollectErasure(subject, *batch));
    if (batch->Count() == 0) return Fail(ErrorCode::kNotFound, "unknown subject");
    COFFRE_TRY(CommitDeletion({JournalEntry::Subject(subject)}, *batch));
  }
  COFFRE_TRY(CompactDeleted());
  return result;
}

// An erasure whose compaction was interrupted (kill, I/O error) left the
// deleted keys in older files: finish it before serving anything.
Status Vault::FinishPendingCompaction() {
  COFFRE_ASSIGN_OR_RETURN(auto pending, store_->Get(Space::kMeta, layout::kMetaCompactionPending));
  if (!pending) return Ok();
  return CompactDeleted();
}

Status Vault::ReplayErasureJournal() {
  COFFRE_ASSIGN_OR_RETURN(auto journal, ErasureJournal::Open(options_.erasure_journal, vault_id_));
  COFFRE_ASSIGN_OR_RETURN(uint64_t size, journal.Size());
  COFFRE_ASSIGN_OR_RETURN(std::vector<JournalEntry> entries, journal.ReadAll(journal_kinds_));
  COFFRE_ASSIGN_OR_RETURN(auto applied_raw,
                          store_->Get(Space::kMeta, AppliedKey()));
  uint64_t applied = 0;
  std::string applied_hash = ErasureJournal::Chain({}, 0);
  if (applied_raw && applied_raw->size() == 8 + 32) {
    applied = ReadBigEndian64(*applied_raw);
    applied_hash = applied_raw->substr(8);
  }
  if (applied > entries.size()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "erasure journal " + journal.path() + " holds " + std::to_string(entries.size()) +
                    " deletions but this vault has applied " + std::to_string(applied) +
                    ": it was replaced by an older copy; restore the newest journal");
  }
  const std::string chain = ErasureJournal::Chain(entries, entries.size());
  {
    std::lock_guard lock(journal_mu_);
    journal_known_ = true;
    journal_size_ = size;
    journal_count_ = entries.size();
    journal_chain_ = chain;
  }
  // The applied prefix must be the journal's own: a different journal
  // (another copy, edited) is replayed in full, which is idempotent.
  size_t start = ErasureJournal::Chain(entries, applied) == applied_hash ? applied : 0;
  if (start == entries.size()) return Ok();
  {
    std::lock_guard lock(write_mu_);
    // One batch per entry: a record's data key goes with the subject's last
    // record in its collection, which DeleteMembership sees in the store.
    std::vector<Eraser*> replayed;  // erasers given entries, in order
    for (size_t i = start; i < entries.size(); ++i) {
      const JournalEntry& e = entries[i];
      auto batch = store_->NewBatch();
      batch->Put(Space::kMeta, layout::kMetaCompactionPending, "1");
      switch (e.kind) {
        case JournalEntry::Kind::kSubject:
          COFFRE_TRY(CollectErasure(e.id, *batch));
          break;
        case JournalEntry::Kind::kRecord:
          COFFRE_TRY(CollectRecordDeletion(e.collection, e.id, *batch));
          break;
        case JournalEntry::Kind::kModule: {
          Eraser* eraser = EraserOf(e);  // ReadAll read only the kinds of ours
          if (eraser == nullptr)
            return Fail(ErrorCode::kInternal, "a journal entry of an unknown kind");
          COFFRE_TRY(eraser->AddReplay(e, *store_, *batch));
          if (std::find(replayed.begin(), replayed.end(), eraser) == replayed.end())
            replayed.push_back(eraser);
          break;
        }
      }
      COFFRE_TRY(store_->Write(*batch));
    }
    auto batch = store_->NewBatch();
    for (Eraser* eraser : replayed) COFFRE_TRY(eraser->FinishReplay(*store_, *batch));
    batch->Put(Space::kMeta, AppliedKey(), AppliedValue(entries.size(), chain));
    batch->Put(Space::kMeta, layout::kMetaCompactionPending, "1");
    {
      std::lock_guard lock(journal_mu_);
      ++deletions_;
    }
    COFFRE_TRY(store_->Write(*batch));
  }
  return CompactDeleted();
}

namespace {

// "20261207T125000Z"
std::string CompactUtc(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Status FsyncDirOf(const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return Fail(ErrorCode::kIoError, "cannot open directory " + dir + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    return Fail(ErrorCode::kIoError, "cannot sync directory " + dir + ": " + std::strerror(errno));
  return Ok();
}

}  // namespace

std::string PendingKeyFile(const std::string& key_file) { return key_file + ".new"; }

namespace {

// Links KEY to KEY.old-<UTC time> (-N when taken) and returns that name.
Result<std::string> LinkAsOld(const std::string& key_file, int64_t now) {
  std::string old = key_file + ".old-" + CompactUtc(now);
  for (int n = 1; ::link(key_file.c_str(), old.c_str()) != 0; ++n) {
    if (errno != EEXIST || n > 99) {
      return Fail(ErrorCode::kIoError,
                  "cannot keep the old key file as " + old + ": " + std::strerror(errno));
    }
    old = key_file + ".old-" + CompactUtc(now) + "-" + std::to_string(n);
  }
  return old;
}

}  // namespace

Status FinishKeyFileRotation(const std::string& key_file, int64_t now, std::string* retired) {
  const std::string pending = PendingKeyFile(key_file);
  // The old key is kept under a new name (a hard link: KEY itself never
  // disappears), then KEY.new replaces KEY in one rename. A crash between
  // the two leaves KEY.new, which Open finishes with.
  COFFRE_ASSIGN_OR_RETURN(std::string old, LinkAsOld(key_file, now));
  if (::rename(pending.c_str(), key_file.c_str()) != 0) {
    return Fail(ErrorCode::kIoError,
                "cannot rename " + pending + " to " + key_file + ": " + std::strerror(errno));
  }
  COFFRE_TRY(FsyncDirOf(key_file));
  if (retired) *retired = old;
  return Ok();
}

std::string Vault::key_source() {
  std::lock_guard lock(write_mu_);  // a rotation swaps master_
  return master_->source();
}

Status Vault::Rekey(std::unique_ptr<MasterKey> next, size_t* count, bool* written) {
  auto batch = store_->NewBatch();
  COFFRE_TRY(Keyring::Reseal(*store_, *batch, vault_id_, *master_, *next, count));
  COFFRE_ASSIGN_OR_RETURN(std::string kcv, next->KeyCheck(vault_id_));
  batch->Put(Space::kMeta, layout::kMetaKeyCheck, kcv);
  if (next->source() == kFileKeySource) {
    batch->Delete(Space::kMeta, layout::kMetaKeySource);
  } else {
    batch->Put(Space::kMeta, layout::kMetaKeySource, next->source());
  }
  *written = true;
  COFFRE_TRY(store_->Write(*batch));
  master_ = std::move(next);
  return Ok();
}

Result<size_t> Vault::RotateMasterKey(const std::string& new_key_file, std::string* retired) {
  const bool in_place = new_key_file.empty();
  std::lock_guard lock(write_mu_);
  const bool from_token = master_->source() != kFileKeySource;
  if (in_place && from_token) {
    return Fail(ErrorCode::kInvalidArgument,
                "this vault's master key is in a PKCS#11 token: rotate it with --new-key-pkcs11 "
                "URI (or --new-key-file FILE to move it out of the token)");
  }
  const std::string target = in_place ? PendingKeyFile(options_.key_file) : new_key_file;
  if (IsInside(target, options_.dir)) {
    return Fail(ErrorCode::kInvalidArgument,
                "key file " + target + " is inside the data directory; keep it outside");
  }
  std::error_code ec;
  if (in_place && fs::exists(target, ec)) {
    // Left by a rotation that crashed before its commit: had it committed,
    // Open would have finished it. The vault never opened with this key.
    COFFRE_ASSIGN_OR_RETURN(std::string kcv, GetRequiredMeta(*store_, layout::kMetaKeyCheck));
    auto stale = crypto::LoadKeyFile(target);
    if (stale && crypto::ConstantTimeEquals(
                     kcv, crypto::KeyedHash(*stale, layout::KeyCheckMessage(vault_id_)))) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "key file " + target + " already opens this vault");
    }
    fs::remove(target, ec);
  }
  crypto::SecretKey next = crypto::SecretKey::Random();
  COFFRE_TRY(crypto::WriteKeyFile(target, next));
  size_t count = 0;
  // A failed synced write may still have reached the write-ahead log and be
  // recovered at the next open, after which only the new key opens the
  // vault: KEY.new stays. Open finishes the rotation if the commit landed;
  // the next rotation removes a KEY.new that does not open the vault.
  bool written = false;
  if (auto s = Rekey(MasterKeyInMemory(std::move(next), in_place ? options_.key_file : target),
                     &count, &written);
      !s) {
    if (!written) fs::remove(target, ec);
    return Fail(std::move(s).error());
  }
  // Committed: from here on only the new key opens the vault.
  if (in_place) {
    COFFRE_TRY(FinishKeyFileRotation(options_.key_file, clock_->NowUnixSeconds(), retired));
  } else {
    options_.key_file = target;  // an in-place rotation that follows replaces this one
  }
  // The entries sealed under the old key (and the old key-check value) are
  // still in older files of the meta space: compacted away, so that a copy
  // of the directory taken now and the retired key file read nothing.
  COFFRE_TRY(store_->CompactSpace(Space::kMeta));
  COFFRE_TRY(store_->RollManifest());
  return count;
}

Result<size_t> Vault::RotateMasterKeyToToken(const std::string& uri, std::string* retired) {
  std::lock_guard lock(write_mu_);
  COFFRE_ASSIGN_OR_RETURN(std::unique_ptr<MasterKey> next,
                          MasterKeyInToken(uri, crypto::TokenKey::kCreateIfAbsent));
  COFFRE_ASSIGN_OR_RETURN(std::string kcv, GetRequiredMeta(*store_, layout::kMetaKeyCheck));
  COFFRE_ASSIGN_OR_RETURN(bool same, next->Opens(kcv, vault_id_));
  if (same) {
    return Fail(ErrorCode::kAlreadyExists,
                next->name() + " already opens this vault; name another key (object=...)");
  }
  const bool from_file = master_->source() == kFileKeySource;
  size_t count = 0;
  bool written = false;
  COFFRE_TRY(Rekey(std::move(next), &count, &written));
  // Committed: from here on only the token key opens the vault. A key file
  // left in place would read as the vault's key to whoever finds it.
  if (from_file) {
    COFFRE_ASSIGN_OR_RETURN(std::string old,
                            LinkAsOld(options_.key_file, clock_->NowUnixSeconds()));
    if (::unlink(options_.key_file.c_str()) != 0) {
      return Fail(ErrorCode::kIoError,
                  "cannot remove " + options_.key_file + ": " + std::strerror(errno));
    }
    COFFRE_TRY(FsyncDirOf(options_.key_file));
    if (retired) *retired = old;
  }
  COFFRE_TRY(store_->CompactSpace(Space::kMeta));
  COFFRE_TRY(store_->RollManifest());
  return count;
}

}  // namespace coffre::vault

namespace coffre::vault {

Result<std::optional<ShareSet>> Vault::share_set() { return ReadShareSet(*store_); }

Result<std::vector<std::string>> Vault::SplitMasterKey(unsigned threshold,
                                                       const std::vector<std::string>& recipients,
                                                       int out_fd, const std::string& out_name) {
  std::lock_guard lock(write_mu_);
  COFFRE_ASSIGN_OR_RETURN(auto existing, ReadShareSet(*store_));
  if (existing) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the master key is already split into shares; coffre keys rotate makes a new set");
  }
  const crypto::SecretKey* master = master_->key_in_memory();
  if (options_.key_file.empty() || master == nullptr) {
    return Fail(ErrorCode::kFailedPrecondition, "the vault was not opened with a key file");
  }
  COFFRE_ASSIGN_OR_RETURN(SealedShares shares,
                          SealShares(vault_id_, *master, 1, threshold, recipients));
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> written,
                          WriteShareFiles(out_fd, out_name, shares));
  auto batch = store_->NewBatch();
  batch->Put(Space::kMeta, kMetaKeyShares, EncodeShareSet(shares.set));
  if (auto s = store_->Write(*batch); !s) {
    RemoveShareFiles(out_fd, shares);
    return Fail(s.error());
  }
  // Committed, and every share is on disk: the key file goes.
  if (::unlink(options_.key_file.c_str()) != 0 && errno != ENOENT) {
    return Fail(ErrorCode::kIoError,
                "the shares are written but the key file " + options_.key_file +
                    " could not be removed: " + std::strerror(errno) + "; remove it by hand");
  }
  COFFRE_TRY(FsyncDirOf(options_.key_file));
  return written;
}

Result<std::vector<std::string>> Vault::RotateMasterKeyToShares(
    unsigned threshold, const std::vector<std::string>& recipients, int out_fd,
    const std::string& out_name, size_t* rewrapped) {
  std::lock_guard lock(write_mu_);
  COFFRE_ASSIGN_OR_RETURN(auto existing, ReadShareSet(*store_));
  if (!existing) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the master key is a key file, not shares: coffre keys split makes shares");
  }
  crypto::SecretKey next = crypto::SecretKey::Random();
  COFFRE_ASSIGN_OR_RETURN(SealedShares shares, SealShares(vault_id_, next, existing->generation + 1,
                                                          threshold, recipients));
  std::unique_ptr<MasterKey> next_master =
      MasterKeyInMemory(next.Clone(), "recombined from shares");
  auto batch = store_->NewBatch();
  size_t count = 0;
  COFFRE_TRY(Keyring::Reseal(*store_, *batch, vault_id_, *master_, *next_master, &count));
  COFFRE_ASSIGN_OR_RETURN(std::string next_kcv, next_master->KeyCheck(vault_id_));
  batch->Put(Space::kMeta, layout::kMetaKeyCheck, next_kcv);
  batch->Put(Space::kMeta, kMetaKeyShares, EncodeShareSet(shares.set));
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> written,
                          WriteShareFiles(out_fd, out_name, shares));
  // A failed synced write may still be recovered from the write-ahead log
  // at the next open (as for a key file, ADR 0016): the new shares are
  // then the only way in, so they are kept unless the write surely failed
  // before reaching the log (the old set still opens the vault then).
  if (auto s = store_->Write(*batch); !s) {
    auto kcv = store_->Get(Space::kMeta, layout::kMetaKeyCheck);
    if (kcv && *kcv &&
        !crypto::ConstantTimeEquals(**kcv,
                                    crypto::KeyedHash(next, layout::KeyCheckMessage(vault_id_)))) {
      RemoveShareFiles(out_fd, shares);
    }
    return Fail(s.error());
  }
  master_ = std::move(next_master);
  if (rewrapped != nullptr) *rewrapped = count;
  COFFRE_TRY(store_->CompactSpace(Space::kMeta));
  COFFRE_TRY(store_->RollManifest());
  return written;
}

}  // namespace coffre::vault
