// How fast the PostgreSQL store moves records, by move strategy, on 1 and 2 connections: the
// measurement behind PostgresStore's default (docs/PERFORMANCE.md). No signing: each record gets
// a salt, signature and key of the real lengths, so only the store's own work is timed (read a
// chunk of the shard range in index order, write the chunk to signedrecords, delete it from
// records, one transaction per chunk).
// Usage: pg_move_bench URL [records=100000] [chunk=2000]
//   URL is a dedicated database: the store's tables are dropped first.
#include <dirent.h>
#include <libpq-fe.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "records/shard.h"
#include "store/postgres/postgres_store.h"
#include "store/store_factory.h"

namespace {

using signer::store::PgMoveStrategy;
using signer::store::PostgresStore;

// CPU seconds (user + system) of every process named "postgres" on this machine: the server's
// share of the work (run the bench against a server of its own, on this machine).
double postgres_cpu_seconds() {
  double total = 0;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  DIR* proc = opendir("/proc");
  if (!proc) return 0;
  while (dirent* entry = readdir(proc)) {
    const std::string pid = entry->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat("/proc/" + pid + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const std::size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    if (line.substr(open + 1, close - open - 1) != "postgres") continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    total += (utime + stime) / tick;
  }
  closedir(proc);
  return total;
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Result {
  double records_per_second;
  double server_us_per_record;
  double client_us_per_record;
};

void drop_tables(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "connect: %s", PQerrorMessage(conn));
    std::exit(1);
  }
  PQclear(PQexec(conn,
                 "DROP TABLE IF EXISTS records, signedrecords, jobs, job_results, audit, "
                 "signer_schema, signer_counts"));
  PQfinish(conn);
}

// Moves every record of `range`, `chunk` at a time, as a batch worker does.
std::size_t move_range(PostgresStore& store, const signer::records::ShardRange& range,
                       std::size_t chunk) {
  signer::store::ReadCursor cursor;
  std::size_t moved = 0;
  const std::string salt(36, 's'), sign = "0x" + std::string(130, 'a'),
                                   key = "0x04" + std::string(128, 'b');
  for (;;) {
    auto page = store.read_unsigned(range, cursor, chunk, 8u << 20);
    if (page.empty()) return moved;
    std::vector<signer::records::SignedRecord> done;
    done.reserve(page.size());
    for (auto& r : page) done.push_back({r.id, r.msg, salt, sign, key, "j-bench"});
    moved += store.move_to_signed(done).inserted;
  }
}

Result run(const std::string& url, PgMoveStrategy strategy, std::size_t records, std::size_t chunk,
           unsigned connections) {
  drop_tables(url);
  signer::store::StoreOptions options{.url = url, .timeout_ms = 5000};
  options.statement_timeout_ms = 600000;
  PostgresStore store(options, strategy);
  std::vector<signer::records::UnsignedRecord> batch;
  for (std::size_t i = 0; i < records; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "%032zx", i * 2654435761u);
    batch.push_back({id, "message number " + std::to_string(i) + " of the benchmark"});
    if (batch.size() == 10000 || i + 1 == records) {
      store.ingest(batch);
      batch.clear();
    }
  }
  PGconn* conn = PQconnectdb(url.c_str());
  PQclear(PQexec(conn, "VACUUM ANALYZE records"));
  PQclear(PQexec(conn, "CHECKPOINT"));
  PQfinish(conn);

  const double server_before = postgres_cpu_seconds();
  const double client_before = own_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  std::vector<std::size_t> moved(connections);
  for (unsigned c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      moved[c] = move_range(store, signer::records::shard_range_for_batch(c, connections), chunk);
    });
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double server = postgres_cpu_seconds() - server_before;
  const double client = own_cpu_seconds() - client_before;
  std::size_t total = 0;
  for (std::size_t m : moved) total += m;
  if (total != records || store.count().unsigned_records != 0) {
    std::fprintf(stderr, "moved %zu of %zu\n", total, records);
    std::exit(1);
  }
  const auto n = static_cast<double>(records);
  return {n / seconds, server / n * 1e6, client / n * 1e6};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pg_move_bench URL [records] [chunk]\n");
    return 2;
  }
  const std::string url = argv[1];
  const std::size_t records = argc > 2 ? std::stoul(argv[2]) : 100000;
  const std::size_t chunk = argc > 3 ? std::stoul(argv[3]) : 2000;
  const struct {
    const char* name;
    PgMoveStrategy strategy;
  } strategies[] = {
      {"insert + delete, one statement (default)", PgMoveStrategy::kInsertAndDeleteOneStatement},
      {"BEGIN; insert; delete; COMMIT", PgMoveStrategy::kInsertThenDelete},
      {"WITH moved AS (DELETE … RETURNING) INSERT", PgMoveStrategy::kDeleteReturningInsert},
  };
  std::printf(
      "| move strategy (%zu records, chunks of %zu) | 1 connection | 2 connections | server CPU "
      "per record | bench-process CPU per record |\n",
      records, chunk);
  std::printf("|---|---|---|---|---|\n");
  for (const auto& s : strategies) {
    const Result one = run(url, s.strategy, records, chunk, 1);
    const Result two = run(url, s.strategy, records, chunk, 2);
    std::printf("| %s | %.0f records/s | %.0f records/s | %.1f µs | %.1f µs |\n", s.name,
                one.records_per_second, two.records_per_second, one.server_us_per_record,
                one.client_us_per_record);
    std::fflush(stdout);
  }
  drop_tables(url);
  return 0;
}
