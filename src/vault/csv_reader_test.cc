// Unit tests of the CSV reader: RFC 4180 fields, named by the header; rows
// it cannot read are refused with a reason that names no value.
#include "vault/csv_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace coffre::vault {
namespace {

std::vector<std::string> Cells(std::string_view record) {
  std::vector<std::string_view> cells;
  std::string scratch;
  EXPECT_TRUE(SplitCsvRecord(record, cells, scratch));
  return {cells.begin(), cells.end()};
}

TEST(CsvReaderTest, SplitsQuotedAndUnquotedFields) {
  EXPECT_EQ(Cells("a,b,c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(Cells(""), (std::vector<std::string>{""}));
  EXPECT_EQ(Cells(",,"), (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(Cells("\"x,y\",\"say \"\"hi\"\"\",\"\""),
            (std::vector<std::string>{"x,y", "say \"hi\"", ""}));
  EXPECT_EQ(Cells("\"two\r\nlines\",end"), (std::vector<std::string>{"two\r\nlines", "end"}));
  // A quote inside an unquoted field is a character.
  EXPECT_EQ(Cells("ab\"c,d"), (std::vector<std::string>{"ab\"c", "d"}));
  EXPECT_EQ(Cells("a,\"b\""), (std::vector<std::string>{"a", "b"}));
}

TEST(CsvReaderTest, RefusesUnbalancedQuotes) {
  std::vector<std::string_view> cells;
  std::string scratch;
  EXPECT_FALSE(SplitCsvRecord("\"open", cells, scratch));
  EXPECT_FALSE(SplitCsvRecord("a,\"b\"c", cells, scratch));  // text after a closing quote
  EXPECT_FALSE(SplitCsvRecord("\"a\"\"", cells, scratch));
}

// Quoted fields are views into the scratch buffer: many of them must stay
// valid together (the buffer is reserved before the first is written).
TEST(CsvReaderTest, QuotedViewsStayValid) {
  std::string record;
  for (int i = 0; i < 200; ++i) record += "\"v" + std::to_string(i) + "\"\"\",";
  record += "last";
  auto cells = Cells(record);
  ASSERT_EQ(cells.size(), 201u);
  EXPECT_EQ(cells[0], "v0\"");
  EXPECT_EQ(cells[199], "v199\"");
  EXPECT_EQ(cells[200], "last");
}

TEST(CsvReaderTest, NamesRowFieldsByTheHeader) {
  CsvReader csv;
  ASSERT_TRUE(csv.ReadHeader("first_name,\"email\""));
  EXPECT_EQ(csv.header(), (std::vector<std::string>{"first_name", "email"}));
  CsvReader::Scratch scratch;
  std::vector<NamedInput> fields;
  ASSERT_TRUE(csv.ReadRow("\"Ana, Maria\",ana@example.org", scratch, fields));
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].first, "first_name");
  EXPECT_EQ(fields[0].second.kind, schema::Input::Kind::kString);
  EXPECT_EQ(fields[0].second.text, "Ana, Maria");
  EXPECT_EQ(fields[1].first, "email");
  EXPECT_EQ(fields[1].second.text, "ana@example.org");
}

TEST(CsvReaderTest, MalformedHeaderIsRefused) {
  CsvReader csv;
  Status s = csv.ReadHeader("a,\"b");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message, "CSV header row is malformed");
}

TEST(CsvReaderTest, ColumnCountMismatchKeepsTheCellsForInspection) {
  CsvReader csv;
  ASSERT_TRUE(csv.ReadHeader("a,b"));
  CsvReader::Scratch scratch;
  std::vector<NamedInput> fields;
  Status more = csv.ReadRow("1,2,secret", scratch, fields);
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(more.error().message, "has 3 columns, the header has 2");
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[1].first, "b");
  EXPECT_EQ(fields[2].first, "");  // beyond the header: unnamed
  EXPECT_EQ(fields[2].second.text, "secret");

  Status fewer = csv.ReadRow("1", scratch, fields);
  ASSERT_FALSE(fewer);
  EXPECT_EQ(fewer.error().message, "has 1 columns, the header has 2");
  EXPECT_EQ(fields.size(), 1u);
}

TEST(CsvReaderTest, MalformedRowLeavesNoFields) {
  CsvReader csv;
  ASSERT_TRUE(csv.ReadHeader("a"));
  CsvReader::Scratch scratch;
  std::vector<NamedInput> fields = {{"stale", schema::Input::Null()}};
  Status s = csv.ReadRow("\"unbalanced", scratch, fields);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "malformed CSV (unbalanced quotes)");
  EXPECT_TRUE(fields.empty());
  // The message never repeats the row's bytes.
  EXPECT_EQ(s.error().message.find("unbalanced\""), std::string::npos);
}

}  // namespace
}  // namespace coffre::vault
