#include "audit/entry.h"

#include <gtest/gtest.h>

#include "audit/entry_json.h"
#include "common/bytes.h"

namespace coffre::audit {
namespace {

Entry Sample() {
  Entry e;
  e.seq = 300;
  e.time_ms = 1'700'000'000'123;
  e.principal = "billing-svc";
  e.on_behalf_of = "agent-7";
  e.action = "read";
  e.collection = "people";
  e.record_id = std::string(16, '\x01');
  e.subjects = {std::string(16, '\x02'), std::string(16, '\x03')};
  e.fields = {{"iban", kViewMasked}, {"family_name", kViewClear}};
  e.purpose = "invoice";
  e.outcome = "allowed";
  e.source = "https:127.0.0.1";
  return e;
}

TEST(EntryTest, RoundTrips) {
  Entry e = Sample();
  ASSERT_TRUE(ValidateEntry(e));
  auto back = DecodeEntry(EncodeEntry(e));
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, e);
  Entry empty;
  empty.action = "login";
  back = DecodeEntry(EncodeEntry(empty));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, empty);
}

TEST(EntryTest, EncodingIsCompactAndVersioned) {
  std::string bytes = EncodeEntry(Sample());
  EXPECT_EQ(bytes[0], '\x01');
  // Ids stay raw: 3 ids x 16 bytes, not 3 x 32 hex characters.
  EXPECT_LT(bytes.size(), 150u);
}

// Version 2 (docs/audit-log.md): version 1's fields, then the request id.
// Entries without one keep version 1's bytes, so old logs and new entries
// of the CLI are byte for byte what they were.
TEST(EntryTest, ARequestIdIsWrittenInVersion2AndOnlyThen) {
  Entry e = Sample();
  const std::string v1 = EncodeEntry(e);
  EXPECT_EQ(v1[0], '\x01');
  e.request_id = "0123456789abcdef";
  ASSERT_TRUE(ValidateEntry(e));
  const std::string v2 = EncodeEntry(e);
  EXPECT_EQ(v2[0], '\x02');
  EXPECT_EQ(v2.substr(1), v1.substr(1) + '\x10' + e.request_id);
  auto back = DecodeEntry(v2);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, e);
  auto view = DecodeEntryView(v2);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->request_id, "0123456789abcdef");
  EXPECT_EQ(DecodeEntryView(v1)->request_id, "");
  for (size_t n = 0; n < v2.size(); ++n) {
    EXPECT_FALSE(DecodeEntry(std::string_view(v2).substr(0, n))) << n;
  }
  EXPECT_FALSE(DecodeEntry(v2 + "x"));
  // One encoding per entry: version 2 with an empty id is refused, and so
  // is an id that is not [A-Za-z0-9_-]{1,64}.
  std::string empty_id = v1 + '\x00';
  empty_id[0] = '\x02';
  EXPECT_FALSE(DecodeEntry(empty_id));
  std::string newline_id = v1 + '\x02' + "a\n";
  newline_id[0] = '\x02';
  EXPECT_FALSE(DecodeEntry(newline_id));
  for (std::string bad :
       {std::string("a b"), std::string("id\n"), std::string(65, 'a'), std::string("\xc3\xa9")}) {
    e.request_id = bad;
    EXPECT_FALSE(ValidateEntry(e)) << bad;
  }
  e.request_id = std::string(64, 'a');
  EXPECT_TRUE(ValidateEntry(e));
}

TEST(EntryTest, EveryTruncationAndTrailingByteIsRejected) {
  std::string bytes = EncodeEntry(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DecodeEntry(std::string_view(bytes).substr(0, n));
    EXPECT_FALSE(r) << "prefix of " << n << " bytes decoded";
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kDataLoss);
    }
  }
  EXPECT_FALSE(DecodeEntry(bytes + "x"));
  std::string v2 = bytes;
  v2[0] = '\x02';
  EXPECT_FALSE(DecodeEntry(v2));
}

TEST(EntryTest, DecoderRejectsBadIdsAndViews) {
  Entry e = Sample();
  e.fields = {{"iban", 'x'}};
  EXPECT_FALSE(ValidateEntry(e));
  EXPECT_FALSE(DecodeEntry(EncodeEntry(e)));
  e = Sample();
  e.record_id = "short";
  EXPECT_FALSE(ValidateEntry(e));
  EXPECT_FALSE(DecodeEntry(EncodeEntry(e)));
  e = Sample();
  e.subjects = {std::string(15, 'a')};
  EXPECT_FALSE(ValidateEntry(e));
  e = Sample();
  e.action.clear();
  EXPECT_FALSE(ValidateEntry(e));
}

TEST(EntryTest, ViewBorrowsTheBytesAndAgreesWithTheDecoder) {
  Entry e = Sample();
  std::string bytes = EncodeEntry(e);
  auto v = DecodeEntryView(bytes);
  ASSERT_TRUE(v) << v.error().ToString();
  EXPECT_EQ(v->seq, e.seq);
  EXPECT_EQ(v->time_ms, e.time_ms);
  EXPECT_EQ(v->principal, e.principal);
  EXPECT_EQ(v->on_behalf_of, e.on_behalf_of);
  EXPECT_EQ(v->action, "read");
  EXPECT_EQ(v->record_id, e.record_id);
  ASSERT_EQ(v->subject_count(), 2u);
  EXPECT_EQ(v->subject(1), e.subjects[1]);
  // Borrowed: the views point into `bytes`.
  EXPECT_GE(v->principal.data(), bytes.data());
  EXPECT_LT(v->principal.data(), bytes.data() + bytes.size());
  FieldCursor c = v->field_cursor();
  std::string_view name;
  char view = 0;
  ASSERT_TRUE(c.Next(name, view));
  EXPECT_EQ(name, "iban");
  EXPECT_EQ(view, kViewMasked);
  ASSERT_TRUE(c.Next(name, view));
  EXPECT_EQ(name, "family_name");
  EXPECT_EQ(view, kViewClear);
  EXPECT_FALSE(c.Next(name, view));
  EXPECT_EQ(v->source, e.source);
  // Same verdicts as DecodeEntry on every prefix.
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeEntryView(std::string_view(bytes).substr(0, n))) << n;
  }
  e.fields = {{"iban", 'x'}};
  EXPECT_FALSE(DecodeEntryView(EncodeEntry(e)));
}

TEST(EntryTest, JsonUsesRfc3339AndHex) {
  EXPECT_EQ(EntryToJsonText(Sample()),
            R"({"seq":300,"time":"2023-11-14T22:13:20.123Z","principal":"billing-svc",)"
            R"("on_behalf_of":"agent-7","action":"read","collection":"people",)"
            R"("record_id":"01010101010101010101010101010101",)"
            R"("subjects":["02020202020202020202020202020202","03030303030303030303030303030303"],)"
            R"("fields":[{"name":"iban","view":"masked"},{"name":"family_name","view":"clear"}],)"
            R"("purpose":"invoice","outcome":"allowed","reason":"","source":"https:127.0.0.1",)"
            R"("request_id":""})");
  Entry with_id = Sample();
  with_id.request_id = "0123456789abcdef";
  EXPECT_NE(EntryToJsonText(with_id).find(R"("request_id":"0123456789abcdef"})"),
            std::string::npos);
  EXPECT_EQ(FormatTimeMs(7), "1970-01-01T00:00:00.007Z");
}

}  // namespace
}  // namespace coffre::audit
