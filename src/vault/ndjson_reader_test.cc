// Unit tests of the NDJSON reader: one object per line, its members the
// fields; values it cannot take are refused with a reason naming no value.
#include "vault/ndjson_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace coffre::vault {
namespace {

// The line followed by the padding the reader parses in place.
class Padded {
 public:
  explicit Padded(std::string_view line) : bytes_(line) {
    bytes_.append(NdjsonReader::kPadding, '\0');
    size_ = line.size();
  }
  std::string_view view() const { return {bytes_.data(), size_}; }

 private:
  std::string bytes_;
  size_t size_;
};

TEST(NdjsonReaderTest, ReadsEveryKindOfValue) {
  NdjsonReader reader;
  std::vector<NamedInput> fields;
  Padded line(
      R"({"name":"Ana \"A\" \u00e9","age":41,"minus":-9223372036854775808,"ok":true,"none":null})");
  ASSERT_TRUE(reader.ReadRow(line.view(), fields));
  ASSERT_EQ(fields.size(), 5u);
  EXPECT_EQ(fields[0].first, "name");
  EXPECT_EQ(fields[0].second.kind, schema::Input::Kind::kString);
  EXPECT_EQ(fields[0].second.text, "Ana \"A\" \xc3\xa9");  // unescaped
  EXPECT_EQ(fields[1].second.kind, schema::Input::Kind::kInteger);
  EXPECT_EQ(fields[1].second.integer, 41);
  EXPECT_EQ(fields[2].second.integer, INT64_MIN);
  EXPECT_EQ(fields[3].second.kind, schema::Input::Kind::kBoolean);
  EXPECT_TRUE(fields[3].second.boolean);
  EXPECT_EQ(fields[4].first, "none");
  EXPECT_EQ(fields[4].second.kind, schema::Input::Kind::kNull);
}

TEST(NdjsonReaderTest, EmptyObjectHasNoField) {
  NdjsonReader reader;
  std::vector<NamedInput> fields = {{"stale", schema::Input::Null()}};
  Padded line(" { } ");
  ASSERT_TRUE(reader.ReadRow(line.view(), fields));
  EXPECT_TRUE(fields.empty());
}

void ExpectRefused(std::string_view text, std::string_view reason) {
  SCOPED_TRACE(std::string(text));
  NdjsonReader reader;
  std::vector<NamedInput> fields;
  Padded line(text);
  Status s = reader.ReadRow(line.view(), fields);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message, reason);
}

TEST(NdjsonReaderTest, RefusesWhatIsNotAnObjectOfScalars) {
  ExpectRefused("", "not a JSON object");
  ExpectRefused("[1,2]", "not a JSON object");
  ExpectRefused("\"text\"", "not a JSON object");
  ExpectRefused("{\"a\":1", "not a JSON object");
  ExpectRefused("{\"a\":1} {}", "not a JSON object");
  ExpectRefused("{\"a\":\"\xff\"}", "not a JSON object");  // invalid UTF-8
  ExpectRefused("{\"a\":1.5}", "a number is not an integer in range");
  ExpectRefused("{\"a\":18446744073709551615}", "a number is not an integer in range");
  ExpectRefused("{\"a\":[1]}", "values must be strings, numbers, booleans or null");
  ExpectRefused("{\"a\":{\"b\":1}}", "values must be strings, numbers, booleans or null");
}

// One reader serves many rows: the fields of each row are its own.
TEST(NdjsonReaderTest, ReaderIsReusedFromRowToRow) {
  NdjsonReader reader;
  std::vector<NamedInput> fields;
  Padded first(R"({"a":"one","b":"two"})");
  ASSERT_TRUE(reader.ReadRow(first.view(), fields));
  Padded bad("{");
  ASSERT_FALSE(reader.ReadRow(bad.view(), fields));
  Padded second(R"({"c":"three"})");
  ASSERT_TRUE(reader.ReadRow(second.view(), fields));
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].first, "c");
  EXPECT_EQ(fields[0].second.text, "three");
}

}  // namespace
}  // namespace coffre::vault
