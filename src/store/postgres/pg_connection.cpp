#include "store/postgres/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <utility>

#include "store/store_factory.h"

namespace signer::store::pg {
namespace {

// What a failed statement means for the caller, from its SQLSTATE (PostgreSQL appendix A).
ErrorKind kind_of_sqlstate(std::string_view state) {
  if (state.size() != 5) return ErrorKind::kUnavailable;  // no result: the connection went away
  const std::string_view error_class = state.substr(0, 2);
  if (error_class == "23") return ErrorKind::kConflict;  // integrity constraint violation
  // disk_full (53100): the server's disk; retrying helps once space is freed there.
  if (state == "53100") return ErrorKind::kFull;
  // data exception, syntax or access rule, invalid name, feature not supported, schema and
  // configuration errors: the same statement would fail again.
  if (error_class == "22" || error_class == "42" || error_class == "0A" || error_class == "3F" ||
      error_class == "F0" || error_class == "XX") {
    return ErrorKind::kInvalid;
  }
  // 08 connection, 40 serialization/deadlock, 53 resources, 57 operator intervention (statement
  // timeout 57014, shutdown 57P01), 58 system error, and anything else: a retry may succeed.
  return ErrorKind::kUnavailable;
}

// The URL's password candidate (between "user:" and "@"), to keep out of parse errors.
std::string_view url_password(std::string_view url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  const std::size_t at = url.find('@', scheme + 3);
  if (at == std::string_view::npos) return {};
  const std::size_t colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return {};
  return url.substr(colon + 1, at - colon - 1);
}

// The value of `param=` in the URL's query, for the same reason.
std::string_view url_query_value(std::string_view url, std::string_view param) {
  const std::size_t query = url.find('?');
  if (query == std::string_view::npos) return {};
  std::string_view rest = url.substr(query + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    if (pair.size() > param.size() && pair.substr(0, param.size()) == param &&
        pair[param.size()] == '=') {
      return pair.substr(param.size() + 1);
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

// libpq's messages end in a newline and may span lines ("…failed: Connection refused\n\tIs the
// server running…"): one line for logs and JSON errors.
std::string one_line(std::string message) {
  std::string out;
  out.reserve(message.size());
  for (char c : message) {
    const bool space = c == '\n' || c == '\t' || c == '\r' || c == ' ';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct ConninfoDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};

// libpq prints the server's notices (`CREATE TABLE IF NOT EXISTS` on an existing table says
// "relation ... already exists, skipping") raw on stderr, outside the structured log and on every
// start of every pod and CLI run. They are informational: into the debug log with them.
void log_notice(void* /*unused*/, const char* message) {
  std::string_view text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  spdlog::debug("postgres notice: {}", text);
}

}  // namespace

std::string scrub(std::string text, std::initializer_list<std::string_view> secrets) {
  for (std::string_view secret : secrets) {
    if (secret.empty()) continue;
    for (std::size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + 3)) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

std::string describe_url(const std::string& url) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoDeleter> options(PQconninfoParse(url.c_str(), &error));
  if (!options) {
    const std::string message = one_line(error ? error : "out of memory");
    PQfreemem(error);
    throw StoreError(ErrorKind::kInvalid,
                     "bad PostgreSQL URL " +
                         scrub(redact_url(url), {url_query_value(url, "password")}) + ": " +
                         scrub(message, {url_password(url), url_query_value(url, "password")}));
  }
  std::string host, port, dbname, user;
  for (const PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (!o->val) continue;
    const std::string_view keyword = o->keyword;
    if (keyword == "host" || (keyword == "hostaddr" && host.empty())) host = o->val;
    if (keyword == "port") port = o->val;
    if (keyword == "dbname") dbname = o->val;
    if (keyword == "user") user = o->val;
  }
  std::string out = "postgresql://";
  if (!user.empty()) out += user + "@";
  // A failover list (host=a,b port=1,2, or postgresql://a:1,b:2/) pairs each host with its port;
  // a single port applies to every host.
  auto split = [](const std::string& list) {
    std::vector<std::string> items;
    std::size_t begin = 0;
    for (std::size_t comma; (comma = list.find(',', begin)) != std::string::npos;
         begin = comma + 1) {
      items.push_back(list.substr(begin, comma - begin));
    }
    items.push_back(list.substr(begin));
    return items;
  };
  const std::vector<std::string> hosts = split(host.empty() ? "localhost" : host);
  const std::vector<std::string> ports = split(port);
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (i > 0) out += ",";
    out += hosts[i].empty() ? "localhost" : hosts[i];
    const std::string& p = ports.size() == hosts.size() ? ports[i] : ports.front();
    if (!p.empty()) out += ":" + p;
  }
  out += "/" + dbname;
  return out;
}

// ---- Result ----------------------------------------------------------------------------------

Result::Result(Result&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}

Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (result_) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

Result::~Result() {
  if (result_) PQclear(result_);
}

int Result::rows() const { return result_ ? PQntuples(result_) : 0; }

bool Result::is_null(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

std::string_view Result::text(int row, int column) const {
  if (is_null(row, column)) return {};
  return {PQgetvalue(result_, row, column),
          static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

std::int64_t Result::int64(int row, int column) const {
  const std::string_view value = text(row, column);
  std::int64_t out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
    throw StoreError(ErrorKind::kInvalid,
                     "postgres: expected an integer, got '" + std::string(value) + "'");
  }
  return out;
}

// ---- Connection ------------------------------------------------------------------------------

Connection::Connection(const ConnectParams& params)
    : password_(params.password),
      answer_timeout_ms_(std::max(0, params.statement_timeout_ms) +
                         std::max(1000, params.connect_timeout_ms)) {
  const std::string connect_timeout =
      std::to_string(std::max(2, (params.connect_timeout_ms + 999) / 1000));
  const std::string user_timeout = std::to_string(std::max(1000, params.connect_timeout_ms));
  // Ours first, then the URL (expanded from "dbname"), then the password: keywords later in the
  // list win, so a URL may set its own timeouts, and BS_PG_PASSWORD beats the URL's password.
  std::vector<const char*> keywords{
      "connect_timeout",  "tcp_user_timeout", "keepalives_idle", "keepalives_interval",
      "keepalives_count", "application_name", "dbname"};
  std::vector<const char*> values{connect_timeout.c_str(), user_timeout.c_str(), "10", "5", "3",
                                  "message-signer",        params.url.c_str()};
  if (!params.password.empty()) {
    keywords.push_back("password");
    values.push_back(params.password.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keywords.data(), values.data(), 1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    const std::string message = one_line(conn_ ? PQerrorMessage(conn_) : "out of memory");
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    throw StoreError(ErrorKind::kUnavailable,
                     "postgres: cannot connect to " + describe_url(params.url) + ": " +
                         scrub(message, {params.password, url_password(params.url)}));
  }
  PQsetNoticeProcessor(conn_, &log_notice, nullptr);
  // Non-blocking, so that sending a large chunk to a server that stopped reading cannot hang
  // (await bounds the whole exchange).
  PQsetnonblocking(conn_, 1);
  const std::string set_timeout =
      "SET statement_timeout = " + std::to_string(std::max(0, params.statement_timeout_ms));
  exec(set_timeout.c_str());
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

bool Connection::healthy() const {
  return conn_ && PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

bool Connection::still_open() {
  if (!conn_) return false;
  // An idle connection has nothing to read unless the server spoke first: a FATAL notice before
  // it closed, then end-of-file. Read until there is nothing more (or libpq saw the end).
  for (int reads = 0; reads < 8 && healthy(); ++reads) {
    pollfd waiting{PQsocket(conn_), POLLIN, 0};
    if (::poll(&waiting, 1, 0) <= 0) break;
    if (PQconsumeInput(conn_) == 0) break;  // end of file or an error: the status says which
  }
  return healthy();
}

void Connection::fail(pg_result* result, const char* what) {
  // Copied out: both point into `result`, which is cleared below.
  const char* state_field = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = state_field ? state_field : "";
  std::string message = one_line(result ? PQresultErrorMessage(result) : "");
  if (message.empty() && conn_) message = one_line(PQerrorMessage(conn_));
  if (result) PQclear(result);
  // Leave the connection idle, so the pool can lend it again (or see that it is broken).
  if (conn_) {
    const PGTransactionStatusType tx = PQtransactionStatus(conn_);
    if (tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR) {
      try {
        if (PQsendQuery(conn_, "ROLLBACK")) PQclear(await("ROLLBACK"));
      } catch (const StoreError&) {  // the connection is closed: nothing to roll back
      }
    }
  }
  throw StoreError(kind_of_sqlstate(state),
                   std::string("postgres: ") + what + ": " + scrub(message, {password_}));
}

bool Connection::wait_for(short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd ready{PQsocket(conn_), events, 0};
    const int n = ::poll(&ready, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let libpq meet and report the socket's error
  }
}

[[noreturn]] void Connection::abandon(const char* what) {
  PQfinish(conn_);
  conn_ = nullptr;
  throw StoreError(ErrorKind::kUnavailable,
                   std::string("postgres: ") + what + ": the server did not answer within " +
                       std::to_string(answer_timeout_ms_) +
                       " ms (statement timeout + store timeout); connection closed");
}

pg_result* Connection::await(const char* what) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(answer_timeout_ms_);
  // Everything sent first: a server that stopped reading leaves the buffer full.
  for (int flushed = PQflush(conn_); flushed != 0; flushed = PQflush(conn_)) {
    if (flushed < 0) break;  // the error comes back as the result
    if (!wait_for(POLLOUT | POLLIN, deadline)) abandon(what);
    if (PQconsumeInput(conn_) == 0) break;
  }
  // Every result of the command: the first that failed is kept, else the last.
  pg_result* kept = nullptr;
  auto failed = [](pg_result* r) {
    const ExecStatusType status = PQresultStatus(r);
    return status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK;
  };
  for (;;) {
    while (PQisBusy(conn_)) {
      if (!wait_for(POLLIN, deadline)) {
        if (kept) PQclear(kept);
        abandon(what);
      }
      if (PQconsumeInput(conn_) == 0) break;  // the connection's error comes as a result
    }
    pg_result* next = PQgetResult(conn_);
    if (!next) break;
    if (kept && failed(kept)) {
      PQclear(next);
    } else {
      if (kept) PQclear(kept);
      kept = next;
    }
  }
  return kept;
}

void Connection::exec(const char* sql) {
  pg_result* result = PQsendQuery(conn_, sql) ? await("statement") : nullptr;
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(result, "statement failed");
  PQclear(result);
}

Result Connection::run(const char* name, const char* sql,
                       std::span<const std::optional<std::string_view>> params) {
  if (!prepared_.contains(name)) {
    pg_result* prepared = PQsendPrepare(conn_, name, sql, static_cast<int>(params.size()), nullptr)
                              ? await(name)
                              : nullptr;
    if (!prepared || PQresultStatus(prepared) != PGRES_COMMAND_OK) fail(prepared, name);
    PQclear(prepared);
    prepared_.insert(name);
  }
  // Text parameters must end in NUL, which a string_view need not: copy them.
  std::vector<std::string> owned;
  owned.reserve(params.size());
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::optional<std::string_view>& param : params) {
    if (!param) {
      values.push_back(nullptr);
      continue;
    }
    values.push_back(owned.emplace_back(*param).c_str());
  }
  pg_result* result = PQsendQueryPrepared(conn_, name, static_cast<int>(values.size()),
                                          values.data(), nullptr, nullptr, 0)
                          ? await(name)
                          : nullptr;
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(result, name);
  return Result(result);
}

Result Connection::run(const char* name, const char* sql,
                       std::initializer_list<std::string_view> params) {
  std::vector<std::optional<std::string_view>> all(params.begin(), params.end());
  return run(name, sql, all);
}

// ---- Pool ------------------------------------------------------------------------------------

Pool::Pool(ConnectParams params, std::size_t max_size)
    : params_(std::move(params)), max_size_(std::max<std::size_t>(1, max_size)) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (connection_) pool_->give_back(std::move(connection_));
}

Pool::Lease Pool::borrow() {
  {
    std::unique_lock lock(mutex_);
    available_.wait(lock, [&] { return !idle_.empty() || lent_ < max_size_; });
    ++lent_;
    while (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (connection->still_open()) return Lease(*this, std::move(connection));
    }
  }
  // Connect outside the lock: a slow or refused connect must not hold up other borrowers.
  try {
    return Lease(*this, std::make_unique<Connection>(params_));
  } catch (...) {
    std::lock_guard lock(mutex_);
    --lent_;
    available_.notify_one();
    throw;
  }
}

void Pool::give_back(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mutex_);
  --lent_;
  if (connection->healthy()) idle_.push_back(std::move(connection));
  available_.notify_one();
}

// ---- array literals --------------------------------------------------------------------------

void TextArray::add(std::string_view element) {
  if (literal_.back() == '}') literal_.pop_back();  // reopened after literal()
  if (size_ > 0) literal_ += ',';
  literal_ += '"';
  for (char c : element) {
    if (c == '"' || c == '\\') literal_ += '\\';
    literal_ += c;
  }
  literal_ += '"';
  ++size_;
}

std::string_view TextArray::literal() {
  if (literal_.back() != '}') literal_ += '}';
  return literal_;
}

void IntArray::add(std::int64_t value) {
  if (literal_.back() == '}') literal_.pop_back();
  if (!empty_) literal_ += ',';
  literal_ += std::to_string(value);
  empty_ = false;
}

std::string_view IntArray::literal() {
  if (literal_.back() != '}') literal_ += '}';
  return literal_;
}

}  // namespace signer::store::pg
