#include "ingest/record_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <queue>
#include <stdexcept>
#include <string>

namespace signer::ingest {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

// Each record in a run: seq (u64), id length (u32), msg length (u32), id bytes, msg bytes, in
// this machine's byte order (the file never outlives the process).
struct RunHeader {
  std::uint64_t seq;
  std::uint32_t id_size;
  std::uint32_t msg_size;
};

constexpr std::size_t kRunBuffer = std::size_t{1} << 16;

bool comes_before(std::string_view id_a, std::uint64_t seq_a, std::string_view id_b,
                  std::uint64_t seq_b) {
  const int order = id_a.compare(id_b);
  return order < 0 || (order == 0 && seq_a < seq_b);
}

}  // namespace

// One sorted run, written once and then read once from the start, in an unnamed file.
class RecordSpool::Run {
 public:
  explicit Run(const std::filesystem::path& dir) : dir_(dir), buffer_(kRunBuffer) {
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
      // A file system without O_TMPFILE: a named file, unlinked at once.
      std::string pattern = (dir / "signer-spool-XXXXXX").string();
      fd = ::mkostemp(pattern.data(), O_CLOEXEC);
      if (fd >= 0) ::unlink(pattern.c_str());
    }
    if (fd < 0) fail("cannot create a temporary file");
    file_.reset(::fdopen(fd, "w+b"));
    if (!file_) {
      ::close(fd);
      fail("cannot open a temporary file");
    }
    std::setvbuf(file_.get(), buffer_.data(), _IOFBF, buffer_.size());
  }

  void write(std::uint64_t seq, const records::UnsignedRecord& record) {
    constexpr std::size_t kMax = std::numeric_limits<std::uint32_t>::max();
    if (record.id.size() > kMax || record.msg.size() > kMax) {
      throw std::runtime_error("record spool: a record over 4 GiB");
    }
    const RunHeader header{seq, static_cast<std::uint32_t>(record.id.size()),
                           static_cast<std::uint32_t>(record.msg.size())};
    if (std::fwrite(&header, sizeof header, 1, file_.get()) != 1 ||
        std::fwrite(record.id.data(), 1, record.id.size(), file_.get()) != record.id.size() ||
        std::fwrite(record.msg.data(), 1, record.msg.size(), file_.get()) != record.msg.size()) {
      fail("cannot write a temporary file");
    }
  }

  // Ends writing; reading starts at the first record.
  void rewind() {
    if (std::fflush(file_.get()) != 0 || std::fseek(file_.get(), 0, SEEK_SET) != 0) {
      fail("cannot write a temporary file");
    }
  }

  // Reads the next record into `seq` and `record`; false at the end of the run.
  bool read(std::uint64_t& seq, records::UnsignedRecord& record) {
    RunHeader header{};
    if (std::fread(&header, sizeof header, 1, file_.get()) != 1) {
      if (std::ferror(file_.get())) fail("cannot read a temporary file");
      return false;
    }
    seq = header.seq;
    record.id.resize(header.id_size);
    record.msg.resize(header.msg_size);
    if (std::fread(record.id.data(), 1, header.id_size, file_.get()) != header.id_size ||
        std::fread(record.msg.data(), 1, header.msg_size, file_.get()) != header.msg_size) {
      fail("cannot read a temporary file (truncated)");
    }
    return true;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("record spool: " + what + " in " + dir_.string() + ": " +
                             std::strerror(errno));
  }

  std::filesystem::path dir_;
  std::vector<char> buffer_;  // stdio's buffer; declared before file_, so it outlives it
  std::unique_ptr<std::FILE, FileCloser> file_;
};

namespace {

// Merges `runs` (each sorted by id, then seq), calling emit(seq, record) in that order.
template <typename Emit>
void merge_runs(const std::vector<RecordSpool::Run*>& runs, Emit emit) {
  struct Head {
    std::uint64_t seq = 0;
    records::UnsignedRecord record;
  };
  std::vector<Head> heads(runs.size());
  auto later = [&](std::size_t a, std::size_t b) {
    return comes_before(heads[b].record.id, heads[b].seq, heads[a].record.id, heads[a].seq);
  };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> queue(later);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    runs[i]->rewind();
    if (runs[i]->read(heads[i].seq, heads[i].record)) queue.push(i);
  }
  while (!queue.empty()) {
    const std::size_t i = queue.top();
    queue.pop();
    emit(heads[i].seq, heads[i].record);
    if (runs[i]->read(heads[i].seq, heads[i].record)) queue.push(i);
  }
}

}  // namespace

RecordSpool::RecordSpool(RecordSpoolOptions options) : options_(std::move(options)) {
  if (options_.dir.empty()) options_.dir = std::filesystem::temp_directory_path();
  options_.run_records = std::max<std::size_t>(options_.run_records, 1);
  options_.fan_in = std::max<std::size_t>(options_.fan_in, 2);
}

RecordSpool::~RecordSpool() = default;

void RecordSpool::add(records::UnsignedRecord record) {
  buffer_bytes_ += record.id.size() + record.msg.size();
  buffer_.push_back({added_++, std::move(record)});
  if (buffer_.size() >= options_.run_records || buffer_bytes_ >= options_.run_bytes) spill();
}

void RecordSpool::spill() {
  std::sort(buffer_.begin(), buffer_.end(), [](const Entry& a, const Entry& b) {
    return comes_before(a.record.id, a.seq, b.record.id, b.seq);
  });
  auto run = std::make_unique<Run>(options_.dir);
  for (const Entry& e : buffer_) run->write(e.seq, e.record);
  run->rewind();
  runs_.push_back(std::move(run));
  ++spilled_;
  buffer_.clear();
  buffer_bytes_ = 0;
}

void RecordSpool::drain(std::size_t chunk_records, std::size_t chunk_bytes,
                        const std::function<void(std::vector<records::UnsignedRecord>&)>& sink) {
  chunk_records = std::max<std::size_t>(chunk_records, 1);
  std::vector<records::UnsignedRecord> out;
  out.reserve(std::min<std::size_t>(chunk_records, 1 << 16));
  std::size_t out_bytes = 0;
  auto emit = [&](records::UnsignedRecord& record) {
    out_bytes += record.id.size() + record.msg.size();
    out.push_back(std::move(record));
    if (out.size() >= chunk_records || out_bytes >= chunk_bytes) {
      sink(out);
      out.clear();
      out_bytes = 0;
    }
  };
  if (runs_.empty()) {  // it all fit in memory: no file at all
    std::sort(buffer_.begin(), buffer_.end(), [](const Entry& a, const Entry& b) {
      return comes_before(a.record.id, a.seq, b.record.id, b.seq);
    });
    for (Entry& e : buffer_) emit(e.record);
  } else {
    if (!buffer_.empty()) spill();
    // Too many runs for one merge: merge the oldest fan_in into one, until few enough are left.
    while (runs_.size() > options_.fan_in) {
      std::vector<Run*> inputs;
      for (std::size_t i = 0; i < options_.fan_in; ++i) inputs.push_back(runs_[i].get());
      auto merged = std::make_unique<Run>(options_.dir);
      merge_runs(inputs, [&](std::uint64_t seq, const records::UnsignedRecord& record) {
        merged->write(seq, record);
      });
      runs_.erase(runs_.begin(), runs_.begin() + static_cast<std::ptrdiff_t>(options_.fan_in));
      runs_.push_back(std::move(merged));
    }
    std::vector<Run*> inputs;
    for (const auto& run : runs_) inputs.push_back(run.get());
    merge_runs(inputs, [&](std::uint64_t, records::UnsignedRecord& record) { emit(record); });
  }
  if (!out.empty()) sink(out);
  buffer_.clear();
  buffer_bytes_ = 0;
  runs_.clear();
}

}  // namespace signer::ingest
