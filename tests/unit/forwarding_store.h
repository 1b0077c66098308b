// A Store that hands every call to a real store: a test overrides the calls it wants to fail or
// to watch (a ping that a dead server would fail, a backfill hit by a reset), so the rest of the
// job runs against the real thing.
#pragma once

#include "store/store.h"

namespace signer::testing {

class ForwardingStore : public store::Store {
 public:
  explicit ForwardingStore(store::Store& inner) : inner_(inner) {}

  std::string describe() const override { return inner_.describe(); }
  void ping() override { inner_.ping(); }
  store::Counts count() override { return inner_.count(); }
  store::JobStart start_job() override { return inner_.start_job(); }
  std::uint64_t count_unsigned_through_epoch(std::uint64_t epoch) override {
    return inner_.count_unsigned_through_epoch(epoch);
  }
  std::uint64_t count_signed_of_job(std::string_view job_id) override {
    return inner_.count_signed_of_job(job_id);
  }
  std::uint64_t backfill_shards() override { return inner_.backfill_shards(); }
  std::vector<records::UnsignedRecord> read_unsigned(const records::ShardRange& range,
                                                     store::ReadCursor& cursor, std::size_t limit,
                                                     std::size_t byte_limit) override {
    return inner_.read_unsigned(range, cursor, limit, byte_limit);
  }
  using store::Store::read_unsigned;
  store::MoveResult move_to_signed(std::span<const records::SignedRecord> records) override {
    return inner_.move_to_signed(records);
  }
  store::IngestResult ingest(std::span<const records::UnsignedRecord> records) override {
    return inner_.ingest(records);
  }
  std::optional<records::SignedRecord> find_signed(std::string_view id) override {
    return inner_.find_signed(id);
  }
  void for_each_signed(const std::function<void(const records::SignedRecord&)>& sink) override {
    inner_.for_each_signed(sink);
  }
  void for_each_signed_of_job(
      std::string_view job_id,
      const std::function<void(const records::SignedRecord&)>& sink) override {
    inner_.for_each_signed_of_job(job_id, sink);
  }
  using Store::find_job;
  using Store::save_job;
  void save_job(const audit::JobRecord& job, std::uint64_t first_outcome) override {
    inner_.save_job(job, first_outcome);
  }
  std::optional<audit::JobRecord> find_job(std::string_view id, bool with_outcomes) override {
    return inner_.find_job(id, with_outcomes);
  }
  std::vector<audit::JobRecord> list_jobs(std::size_t limit) override {
    return inner_.list_jobs(limit);
  }
  void append_audit(const audit::AuditEvent& event) override { inner_.append_audit(event); }
  std::vector<audit::AuditEvent> list_audit(const std::optional<std::string>& job_id,
                                            std::size_t limit) override {
    return inner_.list_audit(job_id, limit);
  }
  std::uint64_t prune_audit(std::int64_t before_unix_ms) override {
    return inner_.prune_audit(before_unix_ms);
  }

 protected:
  store::Store& inner_;
};

}  // namespace signer::testing
