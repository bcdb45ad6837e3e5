// libFuzzer target for the JSON side of the importer: RecordSplitter
// (kLines) cutting the input into lines, NdjsonReader and ExportLineReader
// reading each line in place, as the importer's workers do (padding after
// the chunk, not after each line). Built with -DCOFFRE_FUZZ=ON (clang only).
//
// Invariants: a line a reader accepts is JSON for an independent parser
// (Boost.JSON), an object whose members are the fields read, with the same
// values; the export reader's ids are the line's hex ids.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "vault/export_line_reader.h"
#include "vault/ndjson_reader.h"
#include "vault/record_splitter.h"

namespace {

namespace json = boost::json;
using coffre::schema::Input;
using coffre::vault::NamedInput;

// The fields read agree with `object`'s members (when no key repeats: the
// parsers may keep different copies of a repeated key).
void CheckAgainst(const json::object& object, const std::vector<NamedInput>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (fields[j].first == fields[i].first) return;
    }
  }
  if (object.size() != fields.size()) __builtin_trap();
  for (const auto& [name, input] : fields) {
    const json::value* v = object.if_contains(json::string_view(name.data(), name.size()));
    if (v == nullptr) __builtin_trap();
    switch (input.kind) {
      case Input::Kind::kString:
        if (!v->is_string() || std::string_view(v->as_string()) != input.text) __builtin_trap();
        break;
      case Input::Kind::kInteger:
        if (!v->is_int64() || v->as_int64() != input.integer) __builtin_trap();
        break;
      case Input::Kind::kBoolean:
        if (!v->is_bool() || v->as_bool() != input.boolean) __builtin_trap();
        break;
      case Input::Kind::kNull:
        if (!v->is_null()) __builtin_trap();
        break;
    }
  }
}

const json::object* ParseObject(std::string_view line, json::value& holder) {
  boost::system::error_code ec;
  holder = json::parse(json::string_view(line.data(), line.size()), ec);
  if (ec || !holder.is_object()) return nullptr;
  return &holder.as_object();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  coffre::vault::RecordSplitter splitter(coffre::vault::RecordSplitter::Mode::kLines);
  splitter.Append(std::string_view(reinterpret_cast<const char*>(data), size));
  splitter.Finish();
  // The chunk: the input, then the parser's padding.
  std::string chunk(splitter.buffer());
  chunk.append(coffre::vault::NdjsonReader::kPadding, '\0');

  coffre::vault::NdjsonReader ndjson;
  coffre::vault::ExportLineReader exports("people");
  coffre::vault::ExportLine export_line;
  std::vector<NamedInput> fields;
  coffre::vault::InputRecord rec;
  while (splitter.Next(rec)) {
    const std::string_view line(chunk.data() + rec.begin, rec.end - rec.begin);
    json::value holder;
    if (ndjson.ReadRow(line, fields)) {
      const json::object* object = ParseObject(line, holder);
      if (object == nullptr) __builtin_trap();
      CheckAgainst(*object, fields);
    }
    if (exports.ReadRow(line, export_line, fields)) {
      const json::object* object = ParseObject(line, holder);
      if (object == nullptr) __builtin_trap();
      const json::value* members = object->if_contains("fields");
      const json::value* id = object->if_contains("id");
      const json::value* subject = object->if_contains("subject");
      if (members == nullptr || !members->is_object() || id == nullptr || subject == nullptr)
        __builtin_trap();
      CheckAgainst(members->as_object(), fields);
      auto lower = [](std::string s) {
        for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
        return s;
      };
      if (coffre::ToHex(std::string_view(export_line.record_id, coffre::kIdBytes)) !=
              lower(std::string(id->as_string())) ||
          coffre::ToHex(std::string_view(export_line.subject, coffre::kIdBytes)) !=
              lower(std::string(subject->as_string())))
        __builtin_trap();
    }
  }
  return 0;
}
