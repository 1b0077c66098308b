// libpq wrapped in RAII for the PostgreSQL store: one connection with its prepared statements, a
// result that clears itself, a pool that lends each thread its own connection, and the text-array
// encoding the store sends whole chunks with (one round trip per chunk, not one per record).
// Errors become StoreError with a kind taken from the SQLSTATE, and never carry the password.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "store/store.h"

struct pg_conn;
struct pg_result;

namespace signer::store::pg {

// How to reach the server: libpq's own keywords (host, port, dbname, user, sslmode, …) parsed from
// the URL, plus the password (from the URL, BS_PG_PASSWORD or BS_PG_PASSWORD_FILE) and timeouts.
struct ConnectParams {
  std::string url;                   // "postgres://…" or "postgresql://…", as libpq parses it
  std::string password;              // overrides the URL's password when set; never logged
  int connect_timeout_ms = 5000;     // connect, and the TCP user timeout of every statement
  int statement_timeout_ms = 30000;  // the server cancels a statement running longer
};

// Throws StoreError(kInvalid) when libpq cannot parse `url`; the message names the URL with its
// password redacted. Returns "postgresql://user@host:port/dbname", free of credentials.
std::string describe_url(const std::string& url);

// Replaces every occurrence of each non-empty secret in `text` with "***".
std::string scrub(std::string text, std::initializer_list<std::string_view> secrets);

// A PGresult that is cleared when it goes out of scope.
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* result) : result_(result) {}
  Result(Result&& other) noexcept;
  Result& operator=(Result&& other) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result();

  int rows() const;
  bool is_null(int row, int column) const;
  std::string_view text(int row, int column) const;  // "" for NULL
  std::string string(int row, int column) const { return std::string(text(row, column)); }
  std::int64_t int64(int row, int column) const;  // throws StoreError(kInvalid) if not one

 private:
  pg_result* result_ = nullptr;
};

// One server connection. Not thread-safe: the pool lends it to one thread at a time.
class Connection {
 public:
  // Connects (blocking, bounded by connect_timeout_ms) and sets the statement timeout. Every
  // statement then waits for its answer at most statement_timeout_ms + connect_timeout_ms: the
  // server cancels a statement past its timeout, and a server that does not even answer that
  // (a link that accepts bytes and delivers none, a frozen server) is given up on; the connection
  // is then closed and the statement fails with StoreError(kUnavailable).
  // Throws StoreError(kUnavailable) when the server cannot be reached or refuses the login, with
  // libpq's message (which names host and user, never the password).
  explicit Connection(const ConnectParams& params);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql` (any number of statements, no parameters). Throws StoreError on failure.
  void exec(const char* sql);

  // Runs the statement named `name`, preparing it from `sql` on first use on this connection.
  // Parameters are text; std::nullopt sends NULL. Throws StoreError on failure.
  Result run(const char* name, const char* sql,
             std::span<const std::optional<std::string_view>> params);
  Result run(const char* name, const char* sql, std::initializer_list<std::string_view> params);

  // false once the connection is known broken (the server went away, a protocol error) or is
  // left inside a transaction: the pool then closes it instead of lending it again.
  bool healthy() const;

  // Reads whatever the server sent while the connection sat idle, without blocking, and returns
  // healthy(). A server that restarted or was killed has closed the socket (or said so), which
  // this sees, so the pool does not lend a dead connection that would fail its first statement.
  bool still_open();

 private:
  [[noreturn]] void fail(pg_result* result, const char* what);
  // Waits for the results of the command just sent (see the constructor); returns the first
  // that failed, else the last, or nullptr when the connection broke.
  pg_result* await(const char* what);
  bool wait_for(short events, std::chrono::steady_clock::time_point deadline);
  [[noreturn]] void abandon(const char* what);

  pg_conn* conn_ = nullptr;
  std::string password_;
  int answer_timeout_ms_;  // scrubbed from every message
  std::unordered_set<std::string> prepared_;
};

// Connections are made on demand, one per borrowing thread at a time, up to `max_size`; a thread
// that finds all in use waits for one. A broken connection is closed when returned, and the next
// borrower makes a new one, so a restarted server is reconnected to without a restart of ours.
class Pool {
 public:
  Pool(ConnectParams params, std::size_t max_size);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Connection> connection)
        : pool_(&pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  // Borrows a connection, connecting when no idle one is left (idle ones the server has closed
  // are dropped first). Throws StoreError(kUnavailable) when a new connection cannot be made.
  Lease borrow();

  const ConnectParams& params() const { return params_; }

 private:
  void give_back(std::unique_ptr<Connection> connection);

  const ConnectParams params_;
  const std::size_t max_size_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t lent_ = 0;
};

// A PostgreSQL array literal of text elements ('{"a","b\"c"}'), for one `$n::text[]` parameter.
class TextArray {
 public:
  void reserve(std::size_t bytes) { literal_.reserve(bytes); }
  void add(std::string_view element);
  // The literal; valid until the next add().
  std::string_view literal();
  std::size_t size() const { return size_; }

 private:
  std::string literal_ = "{";
  std::size_t size_ = 0;
};

// A PostgreSQL array literal of integers ('{1,2,3}'), for one `$n::bigint[]` parameter.
class IntArray {
 public:
  void add(std::int64_t value);
  std::string_view literal();

 private:
  std::string literal_ = "{";
  bool empty_ = true;
};

}  // namespace signer::store::pg
