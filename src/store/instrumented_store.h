// A Store decorator that times every operation into the metrics registry
// (signer_store_operation_seconds{op}) and counts failures by kind. Composition keeps the timing
// out of the SQLite and MongoDB code.
#pragma once

#include <memory>

#include "metrics/registry.h"
#include "store/store.h"

namespace signer::store {

class InstrumentedStore final : public Store {
 public:
  InstrumentedStore(std::unique_ptr<Store> inner, metrics::Registry& registry)
      : inner_(std::move(inner)), registry_(registry) {}

  std::string describe() const override { return inner_->describe(); }
  void ping() override;
  Counts count() override;
  JobStart start_job() override;
  std::uint64_t count_unsigned_through_epoch(std::uint64_t epoch) override;
  std::uint64_t count_signed_of_job(std::string_view job_id) override;
  std::uint64_t backfill_shards() override;
  std::vector<records::UnsignedRecord> read_unsigned(const records::ShardRange& range,
                                                     ReadCursor& cursor, std::size_t limit,
                                                     std::size_t byte_limit) override;
  using Store::read_unsigned;
  MoveResult move_to_signed(std::span<const records::SignedRecord> signed_records) override;
  IngestResult ingest(std::span<const records::UnsignedRecord> unsigned_records) override;
  std::optional<records::SignedRecord> find_signed(std::string_view id) override;
  void for_each_signed(const std::function<void(const records::SignedRecord&)>& sink) override;
  void for_each_signed_of_job(
      std::string_view job_id,
      const std::function<void(const records::SignedRecord&)>& sink) override;
  using Store::find_job;
  using Store::save_job;
  void save_job(const audit::JobRecord& job, std::uint64_t first_outcome) override;
  std::optional<audit::JobRecord> find_job(std::string_view id, bool with_outcomes) override;
  std::vector<audit::JobRecord> list_jobs(std::size_t limit) override;
  void append_audit(const audit::AuditEvent& event) override;
  std::uint64_t prune_audit(std::int64_t before_unix_ms) override;
  std::vector<audit::AuditEvent> list_audit(const std::optional<std::string>& job_id,
                                            std::size_t limit) override;

 private:
  template <typename F>
  auto timed(const char* op, F&& f) -> decltype(f());

  std::unique_ptr<Store> inner_;
  metrics::Registry& registry_;
};

}  // namespace signer::store
