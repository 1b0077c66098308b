#include "signing/batch_worker.h"

#include <chrono>
#include <optional>
#include <tuple>
#include <vector>

#include "crypto/hex.h"
#include "crypto/keccak.h"
#include "crypto/message_signer.h"
#include "crypto/salt_generator.h"
#include "metrics/signer_metrics.h"
#include "records/shard.h"
#include "signing/record_signer.h"

namespace signer::signing {
namespace {

// "0x" + R||S||V in hex, and "0x" + a digest in hex.
constexpr std::size_t kSignHexSize =
    crypto::prefixed_hex_size(std::tuple_size_v<crypto::Signature65>);
constexpr std::size_t kDigestHexSize =
    crypto::prefixed_hex_size(std::tuple_size_v<crypto::Hash256>);

// One chunk on its way through the pipeline: read, being signed, then written.
struct Chunk {
  std::vector<records::UnsignedRecord> input;
  std::vector<records::SignedRecord> output;
  // Under a scheme other than raw: why output[i] could not be signed ("" when it was signed).
  std::vector<std::string> misfits;
  WorkerPool::Pending pending;
  std::unique_ptr<RangeTask> task;
};

}  // namespace

BatchWorker::BatchWorker(store::Store& store, WorkerPool& pool, metrics::Registry& metrics,
                         audit::AuditLog& audit, BatchWorkerOptions options)
    : store_(store), pool_(pool), metrics_(metrics), audit_(audit), options_(std::move(options)) {}

BatchResult BatchWorker::run(const BatchSpec& spec, std::stop_token stop) {
  const auto start = std::chrono::steady_clock::now();
  const keys::Key& key = spec.key_set->at(spec.key_index);
  const records::ShardRange range = records::shard_range_for_batch(spec.batch, spec.batch_count);

  BatchResult result;
  result.batch = spec.batch;
  result.batch_count = spec.batch_count;
  result.key_index = spec.key_index;
  result.key = key.public_key();
  result.pod = options_.pod_name;

  store::ReadCursor cursor;
  std::vector<store::InvalidRecord> invalid;
  std::vector<records::UnsignedRecord> next;
  bool more = true;  // the range may hold records after `next`
  auto read_next = [&] {
    // A failed read is retried from where the cursor stood before it: a read that failed part
    // way may have moved the cursor over records it did not return.
    const store::ReadCursor before = cursor;
    next = with_store_retry(options_.read_retry, stop, [&] {
      cursor = before;
      return store_.read_unsigned(range, cursor, options_.chunk_size, options_.chunk_bytes);
    });
    for (store::InvalidRecord& r : cursor.invalid) invalid.push_back(std::move(r));
    // Only the store knows whether the range is exhausted: it may have cut the read at a row it
    // did not return as a record (a NULL msg on PostgreSQL still counts toward the byte budget).
    // Records ingested into the range after it was read are signed by the next job.
    if (!cursor.exhausted && cursor.visited == 0) {
      throw store::StoreError(store::ErrorKind::kInvalid,
                              "the store neither returned a record nor reached the end of the "
                              "range (" +
                                  store_.describe() + ")");
    }
    more = !cursor.exhausted;
  };
  const bool raw = spec.scheme.kind() == schemes::SchemeKind::kRaw;
  // A moved chunk, kept for the next one: its signed records' strings keep their buffers, so a
  // chunk of the batch's usual size allocates none for a salt, a signature, a key or a job id.
  std::unique_ptr<Chunk> spare;
  auto start_signing = [&](std::vector<records::UnsignedRecord> input) {
    auto chunk = spare ? std::move(spare) : std::make_unique<Chunk>();
    chunk->input = std::move(input);
    chunk->output.resize(chunk->input.size());
    if (!raw) {
      chunk->misfits.clear();
      chunk->misfits.resize(chunk->input.size());
    }
    // Every string of the output is allocated here, on this batch's thread, which also frees
    // them once they are stored: the pool's threads only fill them. A string allocated on one
    // thread and freed on another goes back to its own thread's malloc arena under that arena's
    // lock, and the pool's threads, allocating from the same arenas, then waited on it (futex
    // wake-ups and context switches, ~4% of a job's CPU; docs/PERFORMANCE.md).
    for (records::SignedRecord& out : chunk->output) {
      out.salt.resize(crypto::SaltGenerator::kSaltLength);
      out.sign.reserve(kSignHexSize);
      out.key = key.public_key();
      out.job_id = spec.job_id;
      if (!raw) out.digest.reserve(kDigestHexSize);
    }
    Chunk* c = chunk.get();
    chunk->task = std::make_unique<RangeTask>(
        [c, &key, &spec, raw](std::size_t begin, std::size_t end, WorkerContext& ctx) {
          for (std::size_t i = begin; i < end; ++i) {
            records::UnsignedRecord& in = c->input[i];
            records::SignedRecord& out = c->output[i];
            ctx.salts.next_into(out.salt.data());
            out.id = std::move(in.id);
            out.msg = std::move(in.msg);
            if (raw) {
              // The original's path: nothing of the schemes is touched per record.
              key.sign_salted_into(ctx.signer, out.salt, out.msg, out.sign);
            } else if (auto reason = sign_record(spec.scheme, key, ctx.signer, out)) {
              c->misfits[i] = std::move(*reason);
            }
          }
        });
    chunk->pending = pool_.submit(chunk->input.size(), *chunk->task);
    return chunk;
  };
  auto finish = [&](Chunk& chunk) {
    chunk.pending.wait();
    if (!raw) {
      // Records whose msg does not fit the scheme stay unsigned, reported like invalid ones.
      std::size_t kept = 0;
      for (std::size_t i = 0; i < chunk.output.size(); ++i) {
        if (!chunk.misfits[i].empty()) {
          invalid.push_back({std::move(chunk.output[i].id),
                             spec.scheme.name() + ": " + std::move(chunk.misfits[i])});
          continue;
        }
        if (kept != i) chunk.output[kept] = std::move(chunk.output[i]);
        ++kept;
      }
      chunk.output.resize(kept);
    }
    if (chunk.output.empty()) return;
    const store::MoveResult moved = store_.move_to_signed(chunk.output);
    result.signed_count += moved.inserted;
    result.already_signed += moved.already_signed;
  };

  // Chunks whose pool tasks may still run; both are waited for before they can be destroyed.
  std::unique_ptr<Chunk> in_flight;
  std::unique_ptr<Chunk> signing;
  audit::AuditEvent event;
  event.client = spec.client;
  event.remote_addr = spec.remote_addr;
  event.route = "/batch";
  event.job_id = spec.job_id;
  event.batch = spec.batch;
  event.key_addresses = {key.address()};
  // Which scheme the batch signed under, when not the original's (raw).
  std::string scheme_note;
  if (!raw) scheme_note.append(", scheme ").append(spec.scheme.name());
  try {
    read_next();
    for (;;) {
      if (!next.empty()) {
        signing = start_signing(std::move(next));
        if (in_flight) {
          finish(*in_flight);  // overlaps with `signing` on the pool
          spare = std::move(in_flight);
        }
        in_flight = std::move(signing);
      }
      if (stop.stop_requested()) {
        result.interrupted = true;
        break;
      }
      if (!more) break;
      read_next();
    }
    if (in_flight) finish(*in_flight);
  } catch (...) {
    for (Chunk* c : {in_flight.get(), signing.get()}) {
      if (!c) continue;
      try {
        c->pending.wait();
      } catch (...) {  // the first error is the one rethrown below
      }
    }
    metrics_.increment(metrics::kBatchesRun, {{"pod", options_.pod_name}, {"outcome", "error"}});
    if (result.signed_count > 0) {
      metrics_.increment(metrics::kRecordsSigned,
                         {{"key_index", std::to_string(spec.key_index)},
                          {"address", key.address()},
                          {"pod", options_.pod_name}},
                         static_cast<double>(result.signed_count));
    }
    event.outcome = "error";
    event.count = result.signed_count;
    event.detail = "pod " + options_.pod_name + " batch " + std::to_string(spec.batch) + "/" +
                   std::to_string(spec.batch_count);
    try {
      throw;
    } catch (const store::StoreError& e) {
      event.detail += ": " + std::string(e.what());
      audit_.record(event);
      throw BatchRunError(e, result.signed_count, result.already_signed);
    } catch (const std::exception& e) {
      event.detail += ": " + std::string(e.what());
      audit_.record(event);
      throw;
    }
  }

  result.failed = invalid.size();
  if (!invalid.empty()) {
    audit::AuditEvent skipped = event;
    skipped.outcome = "invalid";
    skipped.count = invalid.size();
    skipped.detail = "pod " + options_.pod_name + " batch " + std::to_string(spec.batch) + "/" +
                     std::to_string(spec.batch_count) + ": " + std::to_string(invalid.size()) +
                     " records cannot be signed and stay unsigned:";
    for (const store::InvalidRecord& r : invalid) {
      if (result.failed_ids.size() < kMaxListedInvalid) {
        result.failed_ids.push_back(r.id);
        skipped.detail += " " + r.id + " (" + r.reason + ")";
      }
    }
    audit_.record(skipped);
  }

  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  result.ms = static_cast<std::uint64_t>(elapsed.count() * 1000);
  // `pod` as on signer_batches_run_total, so a dashboard can show the spread of a job over the
  // pods as well as over the keys.
  const metrics::Labels key_labels = {{"key_index", std::to_string(spec.key_index)},
                                      {"address", key.address()},
                                      {"pod", options_.pod_name}};
  metrics_.increment(metrics::kRecordsSigned, key_labels, static_cast<double>(result.signed_count));
  if (result.already_signed) {
    metrics_.increment(metrics::kRecordsAlreadySigned, {},
                       static_cast<double>(result.already_signed));
  }
  metrics_.increment(
      metrics::kBatchesRun,
      {{"pod", options_.pod_name}, {"outcome", result.interrupted ? "interrupted" : "ok"}});
  metrics_.observe(metrics::kBatchDuration, {}, elapsed.count());
  event.outcome = result.interrupted ? "interrupted" : "ok";
  event.count = result.signed_count;
  event.detail = "pod " + options_.pod_name + " batch " + std::to_string(spec.batch) + "/" +
                 std::to_string(spec.batch_count) + ", already signed " +
                 std::to_string(result.already_signed) + scheme_note;
  audit_.record(event);
  return result;
}

}  // namespace signer::signing
