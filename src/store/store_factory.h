// Chooses the store from its URL: "sqlite:PATH" (or a bare path) opens the embedded SQLite store;
// "mongodb://…" connects to MongoDB (store/mongo).
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace signer::store {

struct StoreOptions {
  std::string url;
  std::string mongo_user;      // overrides the URL's user when set (BS_MONGO_USER)
  std::string mongo_password;  // BS_MONGO_PWD
  int timeout_ms = 5000;       // connect and server selection timeout
  // SQLite only: fsync on every commit (FULL, the default) or only at WAL checkpoints (NORMAL,
  // faster; an OS crash may then undo the last moves, whose records get signed again).
  bool sqlite_synchronous_full = true;
};

// Opens the store. Throws StoreError(kInvalid) for a URL it cannot use and StoreError(kUnavailable)
// when the store does not answer.
std::unique_ptr<Store> open_store(const StoreOptions& options);

// The URL with any password replaced by "***", for logs and errors.
std::string redact_url(const std::string& url);

}  // namespace signer::store
