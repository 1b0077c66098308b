// Route parameter validation for /sign, /batch and /records/:id.
#include <gtest/gtest.h>

#include "http/route_params.h"

namespace signer::http {
namespace {

bool is_error(const auto& v) { return std::holds_alternative<std::string>(v); }

TEST(RouteParams, BatchSizeAcceptsPositive64BitIntegers) {
  EXPECT_EQ(std::get<std::uint64_t>(parse_batch_size("700")), 700u);
  EXPECT_EQ(std::get<std::uint64_t>(parse_batch_size("18446744073709551615")), UINT64_MAX);
}

TEST(RouteParams, BatchSizeRejectsZeroNegativeNonNumericAndOverflow) {
  for (const char* bad : {"0", "-1", "abc", "", "1.5", "+3", " 3", "18446744073709551616",
                          "99999999999999999999999", "0x10"}) {
    EXPECT_TRUE(is_error(parse_batch_size(bad))) << bad;
  }
  EXPECT_NE(std::get<std::string>(parse_batch_size("18446744073709551616")).find("64 bits"),
            std::string::npos);
}

TEST(RouteParams, BatchParamsRequireIdBelowCount) {
  const auto ok = parse_batch_params("2", "3");
  ASSERT_FALSE(is_error(ok));
  EXPECT_EQ(std::get<BatchParams>(ok).batch, 2u);
  EXPECT_TRUE(is_error(parse_batch_params("3", "3")));
  EXPECT_TRUE(is_error(parse_batch_params("0", "0")));
  EXPECT_TRUE(is_error(parse_batch_params("x", "3")));
  EXPECT_TRUE(is_error(parse_batch_params("1", "")));
}

TEST(RouteParams, RecordIdIsTheDecodedPathTakenAsIs) {
  for (const std::string& id :
       {std::string("user@example.com"), std::string("order/42"), std::string("caf\xc3\xa9-1"),
        std::string("q+/z9w=="), std::string(512, 'x')}) {
    const auto parsed = parse_record_id(id);
    ASSERT_EQ(parsed.index(), 0u) << std::get<1>(parsed);
    EXPECT_EQ(std::get<0>(parsed), id);
  }
  // Decoded once by cpp-httplib; a second decode here would turn "%41" into "A".
  EXPECT_EQ(std::get<0>(parse_record_id("%41")), "%41");
}

TEST(RouteParams, RecordIdRefusesWhatIngestRefuses) {
  for (const std::string& id :
       {std::string(), std::string(513, 'x'), std::string("a\nb"), std::string("\x7f"),
        std::string("\xff"), std::string("\xc2\x85")}) {
    EXPECT_EQ(parse_record_id(id).index(), 1u) << ::testing::PrintToString(id);
  }
}

}  // namespace
}  // namespace signer::http
