// Chooses the store from its URL: "sqlite:PATH" (or a bare path) opens the embedded SQLite store;
// "mongodb://…" connects to MongoDB (store/mongo); "postgres://…" or "postgresql://…" connects to
// PostgreSQL (store/postgres).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "store/store.h"

namespace signer::store {

struct StoreOptions {
  std::string url{};
  std::string mongo_user{};      // overrides the URL's user when set (BS_MONGO_USER)
  std::string mongo_password{};  // BS_MONGO_PWD
  int timeout_ms = 5000;         // connect and server selection timeout
  // SQLite only: fsync on every commit (FULL, the default) or only at WAL checkpoints (NORMAL,
  // faster; an OS crash may then undo the last moves, whose records get signed again).
  bool sqlite_synchronous_full = true;
  // SQLite only: the inbox's threshold (SqliteStore's inbox_merge_rows); 0: its default.
  std::uint64_t sqlite_inbox_merge_rows = 0;
  // PostgreSQL only: the password (BS_PG_PASSWORD, or read from BS_PG_PASSWORD_FILE), which
  // replaces the URL's; the server-side limit on one statement; and the most connections one
  // process opens (one per thread that uses the store at once).
  std::string pg_password{};
  int statement_timeout_ms = 30000;
  std::size_t pg_pool_size = 16;
  // Tests only: called at the named points of multi-step operations (store.h, FaultHook).
  FaultHook fault_hook{};
};

// True for a URL open_store connects to PostgreSQL with.
bool is_postgres_url(const std::string& url);

// Opens the store. Throws StoreError(kInvalid) for a URL it cannot use and StoreError(kUnavailable)
// when the store does not answer.
std::unique_ptr<Store> open_store(const StoreOptions& options);

// The URL with any password replaced by "***", for logs and errors.
std::string redact_url(const std::string& url);

}  // namespace signer::store
