// Helpers for the tests of the SQLite store that reach its file as another process would.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>

namespace signer::store::testing_sqlite {

struct Closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

// Another process on the same file.
inline std::unique_ptr<sqlite3, Closer> open_raw(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  sqlite3_busy_timeout(raw, 5000);
  return std::unique_ptr<sqlite3, Closer>(raw);
}

inline void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << sql << ": " << (err ? err : "");
  sqlite3_free(err);
}

}  // namespace signer::store::testing_sqlite
