// A plain libpq client for the PostgreSQL store tests, playing "another tool" (or the operator)
// that writes and inspects the database behind the store's back. The server is a dedicated one
// (scripts/postgres.sh, started by scripts/test.sh): SIGNER_TEST_PG_URL names it, and every test
// drops the store's tables first. With SIGNER_REQUIRE_PG=1 a missing URL fails the PostgreSQL
// tests instead of leaving them out, so CI cannot pass without having run them.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace signer::testing {

inline std::string pg_url() {
  const char* url = std::getenv("SIGNER_TEST_PG_URL");
  return url ? url : "";
}
inline bool pg_required() {
  const char* required = std::getenv("SIGNER_REQUIRE_PG");
  return required && std::string(required) == "1";
}
inline constexpr const char* kPgMissing =
    "SIGNER_REQUIRE_PG=1 but SIGNER_TEST_PG_URL is not set: the PostgreSQL store was not tested";

class RawPg {
 public:
  explicit RawPg(const std::string& url) : conn_(PQconnectdb(url.c_str()), &PQfinish) {
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      throw std::runtime_error(std::string("raw postgres client: ") + PQerrorMessage(conn_.get()));
    }
  }

  // Runs `sql` with text parameters (nullopt: NULL); fails the test on an error. Returns the
  // rows, each column as text ("<null>" for NULL).
  std::vector<std::vector<std::string>> query(
      const std::string& sql, const std::vector<std::optional<std::string>>& params = {}) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    std::unique_ptr<PGresult, decltype(&PQclear)> result(
        PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                     values.data(), nullptr, nullptr, 0),
        &PQclear);
    const ExecStatusType status = PQresultStatus(result.get());
    std::vector<std::vector<std::string>> rows;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(result.get());
      return rows;
    }
    for (int r = 0; r < PQntuples(result.get()); ++r) {
      auto& row = rows.emplace_back();
      for (int c = 0; c < PQnfields(result.get()); ++c) {
        row.push_back(PQgetisnull(result.get(), r, c) ? "<null>" : PQgetvalue(result.get(), r, c));
      }
    }
    return rows;
  }

  // Drops everything the store made, so each test starts from an empty database.
  void drop_store_tables() {
    query(
        "DROP TABLE IF EXISTS records, signedrecords, jobs, job_results, audit, signer_schema, "
        "signer_epoch, "
        "signer_counts "
        "CASCADE");
  }

 private:
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
};

}  // namespace signer::testing
