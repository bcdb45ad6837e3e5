// Unit tests of RecordSplitter: records are cut where the importer's rows
// end, whatever the blocks the input arrives in, with the lines where they
// start and end.
#include "vault/record_splitter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace coffre::vault {
namespace {

struct Cut {
  std::string text;
  uint64_t first_line;
  uint64_t last_line;
  bool operator==(const Cut&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Cut& c) {
  return os << "{" << c.text.size() << " bytes, lines " << c.first_line << "-" << c.last_line
            << "}";
}

// Splits `input` fed in blocks of `block` bytes, discarding what was taken
// after every block (as the importer does when it emits a chunk).
std::vector<Cut> Split(RecordSplitter::Mode mode, std::string_view input, size_t block) {
  RecordSplitter splitter(mode);
  std::vector<Cut> cuts;
  auto take = [&] {
    InputRecord rec;
    size_t next = 0;
    while (splitter.Next(rec)) {
      EXPECT_LE(rec.begin, rec.end);
      EXPECT_LE(rec.end, rec.next);
      cuts.push_back({std::string(splitter.buffer().substr(rec.begin, rec.end - rec.begin)),
                      rec.first_line, rec.last_line});
      next = rec.next;
    }
    splitter.Discard(next);
  };
  for (size_t at = 0; at < input.size(); at += block) {
    splitter.Append(input.substr(at, block));
    take();
  }
  splitter.Finish();
  take();
  return cuts;
}

TEST(RecordSplitterTest, LinesEndAtEveryLineBreakWithoutIt) {
  const std::string input = "{\"a\":1}\r\n{\"b\":\"x,\\\"y\"}\n{\"c\":null}";
  const std::vector<Cut> want = {
      {"{\"a\":1}", 1, 1}, {"{\"b\":\"x,\\\"y\"}", 2, 2}, {"{\"c\":null}", 3, 3}};
  for (size_t block : {1, 2, 3, 7, 1000}) {
    SCOPED_TRACE(block);
    EXPECT_EQ(Split(RecordSplitter::Mode::kLines, input, block), want);
  }
}

TEST(RecordSplitterTest, BlankRecordsAreSkippedButCountAsLines) {
  const std::string input = "\n  \t\r\nfirst\n\n \nsecond\n\t\n";
  const std::vector<Cut> want = {{"first", 3, 3}, {"second", 6, 6}};
  for (size_t block : {1, 4, 1000}) {
    SCOPED_TRACE(block);
    EXPECT_EQ(Split(RecordSplitter::Mode::kLines, input, block), want);
    EXPECT_EQ(Split(RecordSplitter::Mode::kCsv, input, block), want);
  }
}

TEST(RecordSplitterTest, CsvQuotedFieldsMaySpanLines) {
  const std::string input =
      "name,note\r\n"
      "\"Ana\",\"two\nlines, and \"\"quotes\"\"\"\n"
      "Bo,plain\n"
      "\"C\r\n\r\n\",x";
  const std::vector<Cut> want = {
      {"name,note", 1, 1},
      {"\"Ana\",\"two\nlines, and \"\"quotes\"\"\"", 2, 3},
      {"Bo,plain", 4, 4},
      {"\"C\r\n\r\n\",x", 5, 7},
  };
  for (size_t block : {1, 2, 5, 1000}) {
    SCOPED_TRACE(block);
    EXPECT_EQ(Split(RecordSplitter::Mode::kCsv, input, block), want);
  }
}

// A quote opens a quoted field only at the start of a field: inside an
// unquoted field it is a character, and the line break ends the record.
TEST(RecordSplitterTest, CsvQuoteInsideAnUnquotedFieldIsACharacter) {
  const std::string input = "a,b\"c\nd,e\n";
  const std::vector<Cut> want = {{"a,b\"c", 1, 1}, {"d,e", 2, 2}};
  EXPECT_EQ(Split(RecordSplitter::Mode::kCsv, input, 1), want);
  // In NDJSON mode quotes mean nothing to the splitter.
  EXPECT_EQ(Split(RecordSplitter::Mode::kLines, "\"a\n\"b\n", 1),
            (std::vector<Cut>{{"\"a", 1, 1}, {"\"b", 2, 2}}));
}

// An unterminated quote runs to the end of the input: one last record,
// which the CSV reader then rejects; nothing is lost or repeated.
TEST(RecordSplitterTest, CsvUnterminatedQuoteRunsToTheEnd) {
  const std::string input = "h\nok\n\"open\nstill,open\n";
  const std::vector<Cut> want = {{"h", 1, 1}, {"ok", 2, 2}, {"\"open\nstill,open\n", 3, 5}};
  for (size_t block : {1, 3, 1000}) {
    SCOPED_TRACE(block);
    EXPECT_EQ(Split(RecordSplitter::Mode::kCsv, input, block), want);
  }
}

TEST(RecordSplitterTest, NothingBeforeFinishForAnUnterminatedLastLine) {
  RecordSplitter splitter;
  splitter.Append("{\"a\":1}\n{\"b\"");
  InputRecord rec;
  ASSERT_TRUE(splitter.Next(rec));
  EXPECT_EQ(rec.next, 8u);
  EXPECT_FALSE(splitter.Next(rec));  // the second line may go on
  splitter.Discard(rec.next);
  splitter.Append(":2}");
  EXPECT_FALSE(splitter.Next(rec));
  splitter.Finish();
  ASSERT_TRUE(splitter.Next(rec));
  EXPECT_EQ(splitter.buffer().substr(rec.begin, rec.end - rec.begin), "{\"b\":2}");
  EXPECT_EQ(rec.first_line, 2u);
  EXPECT_FALSE(splitter.Next(rec));
  EXPECT_FALSE(splitter.Next(rec));
}

TEST(RecordSplitterTest, ModeMayBeSetAfterBytesAreBuffered) {
  RecordSplitter splitter;
  splitter.Append("h1,h2\n\"x\ny\",z\n");
  splitter.set_mode(RecordSplitter::Mode::kCsv);
  splitter.Finish();
  InputRecord rec;
  ASSERT_TRUE(splitter.Next(rec));
  ASSERT_TRUE(splitter.Next(rec));
  EXPECT_EQ(splitter.buffer().substr(rec.begin, rec.end - rec.begin), "\"x\ny\",z");
  EXPECT_FALSE(splitter.Next(rec));
}

TEST(RecordSplitterTest, EmptyInputHoldsNoRecord) {
  EXPECT_TRUE(Split(RecordSplitter::Mode::kLines, "", 1).empty());
  EXPECT_TRUE(Split(RecordSplitter::Mode::kCsv, "\r\n\n", 1).empty());
}

}  // namespace
}  // namespace coffre::vault
