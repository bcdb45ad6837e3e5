// Unit tests of the bulk-export line reader (import --format export): ids
// kept as raw bytes, the canary flag, the fields; each refusal names its rule.
#include "vault/export_line_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace coffre::vault {
namespace {

constexpr std::string_view kId = "0123456789abcdef0123456789ABCDEF";
constexpr std::string_view kSubject = "ffeeddccbbaa99887766554433221100";

std::string Line(std::string_view collection, std::string_view id, std::string_view subject,
                 std::string_view fields, std::string_view extra = "") {
  return "{\"collection\":\"" + std::string(collection) + "\",\"id\":\"" + std::string(id) +
         "\",\"subject\":\"" + std::string(subject) + "\",\"fields\":" + std::string(fields) +
         std::string(extra) + "}";
}

Status Read(ExportLineReader& reader, std::string text, ExportLine& line,
            std::vector<NamedInput>& fields) {
  static std::string padded;  // outlives the call: `fields` points into the reader
  padded = text;
  padded.append(NdjsonReader::kPadding, '\0');
  return reader.ReadRow(std::string_view(padded.data(), text.size()), line, fields);
}

TEST(ExportLineReaderTest, KeepsIdsCanaryAndFields) {
  ExportLineReader reader("people");
  ExportLine line;
  std::vector<NamedInput> fields;
  ASSERT_TRUE(Read(reader, Line("people", kId, kSubject, R"({"email":"a@example.org","n":3})"),
                   line, fields));
  EXPECT_EQ(std::string_view(line.record_id, kIdBytes),
            std::string_view("\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef",
                             kIdBytes));
  EXPECT_EQ(static_cast<unsigned char>(line.subject[0]), 0xffu);
  EXPECT_EQ(static_cast<unsigned char>(line.subject[15]), 0x00u);
  EXPECT_FALSE(line.canary);
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].first, "email");
  EXPECT_EQ(fields[1].second.integer, 3);

  ASSERT_TRUE(Read(reader, Line("people", kId, kSubject, "{}", ",\"canary\":true"), line, fields));
  EXPECT_TRUE(line.canary);
  EXPECT_TRUE(fields.empty());
  // The flag does not stick to the next line.
  ASSERT_TRUE(Read(reader, Line("people", kId, kSubject, "{}"), line, fields));
  EXPECT_FALSE(line.canary);
}

void ExpectRefused(const std::string& text, std::string_view reason) {
  SCOPED_TRACE(text);
  ExportLineReader reader("people");
  ExportLine line;
  std::vector<NamedInput> fields;
  Status s = Read(reader, text, line, fields);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message, reason);
}

TEST(ExportLineReaderTest, RefusesWhatIsNotAnExportLineOfTheCollection) {
  ExpectRefused("nope", "not a JSON object");
  ExpectRefused(R"({"email":"a@example.org"})",
                "not a bulk-export line (collection, id, subject, fields)");
  ExpectRefused(Line("people", kId, kSubject, "[]"),
                "not a bulk-export line (collection, id, subject, fields)");
  ExpectRefused(Line("contracts", kId, kSubject, "{}"),
                "the line is of another collection than 'people'");
  ExpectRefused(Line("people", kId.substr(1), kSubject, "{}"),
                "id or subject is not 32 hex digits");
  ExpectRefused(Line("people", kId, "gfeeddccbbaa99887766554433221100", "{}"),
                "id or subject is not 32 hex digits");
  ExpectRefused(Line("people", kId, kSubject, "{}", ",\"canary\":1"), "canary is not a boolean");
  ExpectRefused(Line("people", kId, kSubject, R"({"a":2.5})"),
                "a number is not an integer in range");
}

// Found by ndjson_reader_fuzz (tests/fuzz/corpus/ndjson_reader_fuzz/
// crash-export-repeated-id): with "id" twice the reader kept the first copy,
// other JSON tools (jq, PostgreSQL's jsonb) the last, so the record id kept
// was not the one an operator inspecting the file saw. Any repeated member
// of the line is now refused; repeated fields are refused by validation.
TEST(ExportLineReaderTest, RefusesARepeatedMember) {
  const std::string other_id = "\"id\":\"00000000000000000000000000000002\",";
  std::string line = Line("people", kId, kSubject, "{}");
  ExpectRefused(std::string(line).insert(1, other_id), "a bulk-export line names 'id' twice");
  ExpectRefused(std::string(line).insert(1, "\"collection\":\"people\","),
                "a bulk-export line names 'collection' twice");
  ExpectRefused(Line("people", kId, kSubject, "{}", ",\"canary\":false,\"canary\":true"),
                "a bulk-export line names 'canary' twice");
  ExpectRefused(Line("people", kId, kSubject, "{}", ",\"fields\":{\"a\":\"b\"}"),
                "a bulk-export line names 'fields' twice");
  // An escaped spelling is the same name.
  ExpectRefused(Line("people", kId, kSubject, "{}", ",\"subj\\u0065ct\":\"x\""),
                "a bulk-export line names 'subject' twice");
  // Other members are ignored, repeated or not.
  ExportLineReader reader("people");
  ExportLine kept;
  std::vector<NamedInput> fields;
  EXPECT_TRUE(
      Read(reader, Line("people", kId, kSubject, "{}", ",\"note\":1,\"note\":2"), kept, fields));
}

TEST(ExportLineReaderTest, HexToIdTakesExactly32HexDigits) {
  char out[kIdBytes];
  EXPECT_TRUE(HexToId("000102030405060708090a0b0c0d0e0F", out));
  EXPECT_EQ(out[15], 0x0f);
  EXPECT_FALSE(HexToId("", out));
  EXPECT_FALSE(HexToId("000102030405060708090a0b0c0d0e0", out));
  EXPECT_FALSE(HexToId("000102030405060708090a0b0c0d0e0f0", out));
  EXPECT_FALSE(HexToId("00010203040506070809 a0b0c0d0e0f", out));
}

}  // namespace
}  // namespace coffre::vault
