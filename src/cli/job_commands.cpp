// `signer sign`, `load`, `stats` and `export`: store-side work from the command line.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/service_graph.h"
#include "crypto/salt_generator.h"
#include "http/json_views.h"
#include "ingest/record_spool.h"
#include "records/record_json.h"

namespace signer::cli {
namespace {

// Records per store.ingest call (one transaction each) of a bulk load. They arrive in id order
// (ingest::RecordSpool), so a larger chunk costs no more page writes per record, only memory,
// and saves commits (one fsync each).
constexpr std::size_t kIngestChunk = 50000;
constexpr std::size_t kIngestChunkBytes = std::size_t{16} << 20;  // … or this many of ids and msgs

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "--";
  const auto s = static_cast<long long>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

// Prints job progress to stderr: a live line on a terminal, plain lines elsewhere.
void show_progress(const signing::JobSnapshot& s, bool tty, bool final_line) {
  const double done = static_cast<double>(s.records_signed + s.already_signed);
  const double total = static_cast<double>(s.unsigned_at_start);
  const double pct = total > 0 ? 100.0 * done / total : 100.0;
  const double eta = s.records_per_second > 0 ? (total - done) / s.records_per_second : -1;
  char line[256];
  std::snprintf(line, sizeof(line),
                "signed %llu/%llu (%.1f%%)  batches %llu/%llu  failed %llu  %.0f rec/s  "
                "elapsed %s  eta %s",
                static_cast<unsigned long long>(done), static_cast<unsigned long long>(total), pct,
                static_cast<unsigned long long>(s.batches_done),
                static_cast<unsigned long long>(s.batches),
                static_cast<unsigned long long>(s.batches_failed), s.records_per_second,
                format_duration(s.elapsed_seconds).c_str(), format_duration(eta).c_str());
  if (tty) {
    std::fprintf(stderr, "\r\033[2K%s%s", line, final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

int sign(Config& config, std::uint64_t batch_size, const std::string& progress) {
  finish_config(config);
  configure_logging(config);
  ServiceGraph graph(config);
  const bool tty = progress == "always" || (progress == "auto" && isatty(STDERR_FILENO));
  const bool quiet = progress == "never";
  auto scheme = graph.schemes.resolve(config.scheme);
  if (auto* reason = std::get_if<std::string>(&scheme)) throw std::invalid_argument(*reason);
  // No HTTP caller here: the operator at this machine's shell.
  const signing::JobSnapshot plan = graph.coordinator->start(
      {batch_size, "cli", "local", {}, std::get<schemes::SigningScheme>(scheme)});
  const auto interval = tty ? std::chrono::milliseconds(250) : std::chrono::milliseconds(2000);
  auto next_report = std::chrono::steady_clock::now() + interval;
  while (graph.coordinator->snapshot()->state == signing::JobState::kRunning) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!quiet && std::chrono::steady_clock::now() >= next_report) {
      show_progress(*graph.coordinator->snapshot(), tty, false);
      next_report += interval;
    }
  }
  const auto done = graph.coordinator->wait(plan.id);
  if (!quiet) show_progress(*done, tty, true);
  std::cout << http::to_json(*done).dump() << "\n";
  return done->state == signing::JobState::kSucceeded ? 0 : 1;
}

std::string random_hex_id(crypto::SaltGenerator& salts) {
  // The original generator's ids: the 32 hex digits of a UUIDv4, no hyphens.
  std::string uuid = salts.next();
  std::string id;
  id.reserve(32);
  for (char c : uuid) {
    if (c != '-') id.push_back(c);
  }
  return id;
}

// Every record goes through a RecordSpool first and reaches the store in id order, in chunks of
// kIngestChunk: sorted inserts append to the store's B-trees, so the load runs at the same rate
// into 10M records as into 100k (docs/PERFORMANCE.md, "Loading"). Nothing is stored before the
// input has been read to its end; each chunk is then committed (and durable) on its own.
int load(Config& config, std::uint64_t count, const std::string& input,
         const std::string& spool_dir) {
  finish_config(config);
  configure_logging(config);
  auto store = open_configured_store(config);
  store::IngestResult total;
  ingest::RecordSpool spool({.dir = spool_dir});
  auto flush = [&](std::vector<records::UnsignedRecord>& chunk) {
    const store::IngestResult r = store->ingest(chunk);
    total.accepted += r.accepted;
    total.duplicates += r.duplicates;
    total.conflicts += r.conflicts;
    for (const store::IngestConflict& c : r.conflict_list) {
      std::cerr << "conflict: record " << c.id << " already stored with a different msg\n";
    }
  };
  std::uint64_t rejected = 0;
  if (!input.empty()) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (input != "-") {
      file.open(input, std::ios::binary);
      if (!file) throw std::runtime_error("cannot read " + input);
      in = &file;
    }
    records::for_each_json_object(
        *in,
        [&](std::size_t index, const nlohmann::json& object) {
          records::UnsignedRecord record;
          if (auto reason = records::unsigned_record_from_json(object, record)) {
            std::cerr << "rejected record " << index << ": " << *reason << "\n";
            ++rejected;
            return;
          }
          spool.add(std::move(record));
        },
        [&](records::Rejection r) {
          std::cerr << "rejected record " << r.index << ": " << r.reason << "\n";
          ++rejected;
        });
  } else {
    crypto::SaltGenerator salts;
    for (std::uint64_t i = 0; i < count; ++i) {
      std::string id = random_hex_id(salts);
      spool.add({id, id});
    }
  }
  spool.drain(kIngestChunk, kIngestChunkBytes, flush);
  std::cout << nlohmann::json{{"accepted", total.accepted},
                              {"duplicates", total.duplicates},
                              {"conflicts", total.conflicts},
                              {"rejected", rejected}}
                   .dump()
            << "\n";
  return rejected == 0 && total.conflicts == 0 ? 0 : 1;
}

int stats(Config& config) {
  finish_config(config);
  configure_logging(config);
  auto store = open_configured_store(config);
  std::cout << http::stats_json(store->count(), std::nullopt).dump() << "\n";
  return 0;
}

int export_signed(Config& config, const std::string& output) {
  finish_config(config);
  configure_logging(config);
  auto store = open_configured_store(config);
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (!output.empty() && output != "-") {
    file.open(output, std::ios::binary | std::ios::trunc);
    if (!file) throw std::runtime_error("cannot write " + output);
    out = &file;
  }
  std::string buffer;
  buffer.reserve(1 << 20);
  store->for_each_signed([&](const records::SignedRecord& r) {
    records::append_json_line(buffer, r);
    if (buffer.size() > (1 << 20) - 4096) {
      out->write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
    }
  });
  out->write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  out->flush();
  if (!*out) throw std::runtime_error("write failed");
  return 0;
}

}  // namespace

void add_job_commands(CLI::App& app, Config& config, CommandArgs& args, int& exit_code) {
  {
    CLI::App* cmd =
        app.add_subcommand("sign", "Sign every unsigned record in-process, with progress");
    cmd->add_option("--batch-size", args.batch_size, "Records per batch")
        ->check(CLI::Range(std::uint64_t{1}, UINT64_MAX))
        ->capture_default_str();
    cmd->add_option("--progress", args.progress, "auto (live on a terminal), always, plain, never")
        ->check(CLI::IsMember({"auto", "always", "plain", "never"}))
        ->capture_default_str();
    add_store_flags(*cmd, config);
    add_keys_flag(*cmd, config);
    add_engine_flags(*cmd, config);
    add_scheme_flags(*cmd, config, true);
    cmd->callback([&] { exit_code = sign(config, args.batch_size, args.progress); });
  }
  {
    CLI::App* cmd = app.add_subcommand("load", "Add unsigned records: random, or from NDJSON/JSON");
    auto* count_opt =
        cmd->add_option("--count", args.count, "Generate N random records (id = msg = 32 hex)");
    auto* input_opt =
        cmd->add_option("--input", args.input, "NDJSON or JSON array of {id, msg}; - for stdin");
    count_opt->excludes(input_opt);
    cmd->add_option("--spool-dir", args.spool_dir,
                    "Where the records are sorted by id before they are stored, in unnamed "
                    "temporary files of about the input's size (default: the temp dir, TMPDIR)");
    add_store_flags(*cmd, config);
    cmd->callback([&, count_opt, input_opt] {
      if (count_opt->count() == 0 && input_opt->count() == 0) {
        throw CLI::ValidationError("load", "give --count N or --input FILE");
      }
      exit_code = load(config, args.count, args.input, args.spool_dir);
    });
  }
  {
    CLI::App* cmd = app.add_subcommand("stats", "Print signed and unsigned record counts as JSON");
    add_store_flags(*cmd, config);
    cmd->callback([&] { exit_code = stats(config); });
  }
  {
    CLI::App* cmd =
        app.add_subcommand("export", "Write signed records as NDJSON (what verify reads)");
    cmd->add_option("--output,-o", args.output, "Output file (default stdout)");
    add_store_flags(*cmd, config);
    cmd->callback([&] { exit_code = export_signed(config, args.output); });
  }
}

}  // namespace signer::cli
