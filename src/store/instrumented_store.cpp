#include "store/instrumented_store.h"

#include <chrono>

#include "metrics/signer_metrics.h"

namespace signer::store {

template <typename F>
auto InstrumentedStore::timed(const char* op, F&& f) -> decltype(f()) {
  const auto start = std::chrono::steady_clock::now();
  auto record = [&] {
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    registry_.observe(metrics::kStoreLatency, {{"op", op}}, elapsed.count());
  };
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      record();
    } else {
      auto result = f();
      record();
      return result;
    }
  } catch (const StoreError& e) {
    record();
    registry_.increment(metrics::kStoreErrors,
                        {{"op", op}, {"kind", std::string(to_string(e.kind()))}});
    throw;
  }
}

void InstrumentedStore::ping() {
  timed("ping", [&] { inner_->ping(); });
}
Counts InstrumentedStore::count() {
  return timed("count", [&] { return inner_->count(); });
}
std::uint64_t InstrumentedStore::backfill_shards() {
  return timed("backfill", [&] { return inner_->backfill_shards(); });
}
std::vector<records::UnsignedRecord> InstrumentedStore::read_unsigned(
    const records::ShardRange& range, ReadCursor& cursor, std::size_t limit,
    std::size_t byte_limit) {
  return timed("read_unsigned",
               [&] { return inner_->read_unsigned(range, cursor, limit, byte_limit); });
}
MoveResult InstrumentedStore::move_to_signed(
    std::span<const records::SignedRecord> signed_records) {
  return timed("move", [&] { return inner_->move_to_signed(signed_records); });
}
JobStart InstrumentedStore::start_job() {
  return timed("start_job", [&] { return inner_->start_job(); });
}
std::uint64_t InstrumentedStore::count_unsigned_through_epoch(std::uint64_t epoch) {
  return timed("count_start", [&] { return inner_->count_unsigned_through_epoch(epoch); });
}
std::uint64_t InstrumentedStore::count_signed_of_job(std::string_view job_id) {
  return timed("count_job", [&] { return inner_->count_signed_of_job(job_id); });
}
IngestResult InstrumentedStore::ingest(std::span<const records::UnsignedRecord> unsigned_records) {
  return timed("ingest", [&] { return inner_->ingest(unsigned_records); });
}
std::optional<records::SignedRecord> InstrumentedStore::find_signed(std::string_view id) {
  return timed("find", [&] { return inner_->find_signed(id); });
}
void InstrumentedStore::for_each_signed(
    const std::function<void(const records::SignedRecord&)>& sink) {
  timed("export", [&] { inner_->for_each_signed(sink); });
}

void InstrumentedStore::for_each_signed_of_job(
    std::string_view job_id, const std::function<void(const records::SignedRecord&)>& sink) {
  timed("export_job", [&] { inner_->for_each_signed_of_job(job_id, sink); });
}
void InstrumentedStore::save_job(const audit::JobRecord& job, std::uint64_t first_outcome) {
  timed("save_job", [&] { inner_->save_job(job, first_outcome); });
}
std::optional<audit::JobRecord> InstrumentedStore::find_job(std::string_view id,
                                                            bool with_outcomes) {
  return timed("find_job", [&] { return inner_->find_job(id, with_outcomes); });
}
std::vector<audit::JobRecord> InstrumentedStore::list_jobs(std::size_t limit) {
  return timed("list_jobs", [&] { return inner_->list_jobs(limit); });
}
void InstrumentedStore::append_audit(const audit::AuditEvent& event) {
  timed("append_audit", [&] { inner_->append_audit(event); });
}
std::uint64_t InstrumentedStore::prune_audit(std::int64_t before_unix_ms) {
  return timed("prune_audit", [&] { return inner_->prune_audit(before_unix_ms); });
}
std::vector<audit::AuditEvent> InstrumentedStore::list_audit(
    const std::optional<std::string>& job_id, std::size_t limit) {
  return timed("list_audit", [&] { return inner_->list_audit(job_id, limit); });
}

}  // namespace signer::store
