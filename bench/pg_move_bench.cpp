// How fast the PostgreSQL store moves records, by move strategy, on 1 and 2 connections: the
// measurement behind PostgresStore's default (docs/PERFORMANCE.md). No signing: each record gets
// a salt, signature and key of the real lengths, so only the store's own work is timed (read a
// chunk of the shard range in index order, write the chunk to signedrecords, delete it from
// records, one transaction per chunk).
// Usage: pg_move_bench URL [records=100000] [chunk=2000]
//   URL is a dedicated database: the store's tables are dropped first.
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "records/shard.h"
#include "store/postgres/postgres_store.h"
#include "store/store_factory.h"

namespace {

using signer::store::PgMoveStrategy;
using signer::store::PostgresStore;

void drop_tables(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "connect: %s", PQerrorMessage(conn));
    std::exit(1);
  }
  PQclear(PQexec(conn, "DROP TABLE IF EXISTS records, signedrecords, jobs, audit, signer_schema"));
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

double run(const std::string& url, PgMoveStrategy strategy, std::size_t records, std::size_t chunk,
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
  std::size_t total = 0;
  for (std::size_t m : moved) total += m;
  if (total != records || store.count().unsigned_records != 0) {
    std::fprintf(stderr, "moved %zu of %zu\n", total, records);
    std::exit(1);
  }
  return static_cast<double>(records) / seconds;
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
  std::printf("| move strategy (%zu records, chunks of %zu) | 1 connection | 2 connections |\n",
              records, chunk);
  std::printf("|---|---|---|\n");
  for (const auto& s : strategies) {
    const double one = run(url, s.strategy, records, chunk, 1);
    const double two = run(url, s.strategy, records, chunk, 2);
    std::printf("| %s | %.0f records/s | %.0f records/s |\n", s.name, one, two);
    std::fflush(stdout);
  }
  drop_tables(url);
  return 0;
}
