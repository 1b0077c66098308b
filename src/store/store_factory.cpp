#include "store/store_factory.h"

#include "store/mongo/mongo_store.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace signer::store {

std::string redact_url(const std::string& url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const std::size_t at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  const std::size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

bool is_postgres_url(const std::string& url) {
  return url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
}

std::unique_ptr<Store> open_store(const StoreOptions& options) {
  const std::string& url = options.url;
  if (is_postgres_url(url)) return std::make_unique<PostgresStore>(options);
  if (url.rfind("mongodb://", 0) == 0 || url.rfind("mongodb+srv://", 0) == 0) {
    return std::make_unique<MongoStore>(options);
  }
  std::string path = url;
  if (path.rfind("sqlite:", 0) == 0) path = path.substr(7);
  if (path.empty()) throw StoreError(ErrorKind::kInvalid, "sqlite store needs a path: sqlite:PATH");
  return std::make_unique<SqliteStore>(path, options.sqlite_synchronous_full,
                                       options.sqlite_inbox_merge_rows > 0
                                           ? options.sqlite_inbox_merge_rows
                                           : SqliteStore::kInboxMergeRows);
}

}  // namespace signer::store
