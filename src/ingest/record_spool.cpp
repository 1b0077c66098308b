#include "ingest/record_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <queue>
#include <stdexcept>
#include <string>

namespace signer::ingest {
namespace {

// Each record in a run: seq (u64), id length (u32), msg length (u32), id bytes, msg bytes, in
// this machine's byte order (the file never outlives the process).
struct RunHeader {
  std::uint64_t seq;
  std::uint32_t id_size;
  std::uint32_t msg_size;
};

// A run being written buffers this much before each write(2); only one run is written at a time.
constexpr std::size_t kWriteBuffer = std::size_t{256} << 10;
// Bounds of one merged run's read buffer, whatever merge_buffer_bytes and the number of runs say.
constexpr std::size_t kMinReadBuffer = std::size_t{4} << 10;
constexpr std::size_t kMaxReadBuffer = std::size_t{256} << 10;

bool comes_before(std::string_view id_a, std::uint64_t seq_a, std::string_view id_b,
                  std::uint64_t seq_b) {
  const int order = id_a.compare(id_b);
  return order < 0 || (order == 0 && seq_a < seq_b);
}

}  // namespace

// One sorted run, written once and then read once from the start, in an unnamed file. It holds a
// buffer only while it is being written or read, so runs that wait for their merge cost no memory.
class RecordSpool::Run {
 public:
  explicit Run(const std::filesystem::path& dir) : dir_(dir) {
    fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
      // A file system without O_TMPFILE: a named file, unlinked at once.
      std::string pattern = (dir / "signer-spool-XXXXXX").string();
      fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
      if (fd_ >= 0) ::unlink(pattern.c_str());
    }
    if (fd_ < 0) fail("cannot create a temporary file");
    buffer_.reserve(kWriteBuffer);
  }
  ~Run() { ::close(fd_); }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  void write(std::uint64_t seq, const records::UnsignedRecord& record) {
    constexpr std::size_t kMax = std::numeric_limits<std::uint32_t>::max();
    if (record.id.size() > kMax || record.msg.size() > kMax) {
      throw std::runtime_error("record spool: a record over 4 GiB");
    }
    const RunHeader header{seq, static_cast<std::uint32_t>(record.id.size()),
                           static_cast<std::uint32_t>(record.msg.size())};
    append(&header, sizeof header);
    append(record.id.data(), record.id.size());
    append(record.msg.data(), record.msg.size());
  }

  // Ends writing: what is buffered goes to the file, and the buffer is released.
  void finish_writing() {
    write_out(buffer_.data(), buffer_.size());
    std::vector<char>().swap(buffer_);
  }

  // Starts reading at the first record, through a buffer of `buffer_size` bytes.
  void start_reading(std::size_t buffer_size) {
    if (::lseek(fd_, 0, SEEK_SET) != 0) fail("cannot read a temporary file");
    buffer_.resize(buffer_size);
    begin_ = end_ = 0;
  }

  // Reads the next record into `seq` and `record`; false at the end of the run, when the buffer
  // is released.
  bool read(std::uint64_t& seq, records::UnsignedRecord& record) {
    RunHeader header{};
    if (!take(&header, sizeof header, true)) {
      std::vector<char>().swap(buffer_);
      return false;
    }
    seq = header.seq;
    record.id.resize(header.id_size);
    record.msg.resize(header.msg_size);
    take(record.id.data(), header.id_size, false);
    take(record.msg.data(), header.msg_size, false);
    return true;
  }

 private:
  void append(const void* data, std::size_t size) {
    if (buffer_.size() + size > kWriteBuffer && !buffer_.empty()) {
      write_out(buffer_.data(), buffer_.size());
      buffer_.clear();
    }
    if (size >= kWriteBuffer) return write_out(data, size);  // a large record goes straight out
    const auto* bytes = static_cast<const char*>(data);
    buffer_.insert(buffer_.end(), bytes, bytes + size);
  }

  void write_out(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, bytes, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot write a temporary file");
      bytes += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  // Copies the next `size` bytes of the run to `out`. At the end of the run: false when nothing
  // of them was there and `at_record_start`; otherwise the run is truncated, which throws.
  bool take(void* out, std::size_t size, bool at_record_start) {
    auto* dst = static_cast<char*>(out);
    while (size > 0) {
      if (begin_ == end_) {
        const ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("cannot read a temporary file");
        if (n == 0) {
          if (at_record_start) return false;
          errno = 0;
          fail("cannot read a temporary file (truncated)");
        }
        begin_ = 0;
        end_ = static_cast<std::size_t>(n);
      }
      at_record_start = false;
      const std::size_t part = std::min(size, end_ - begin_);
      std::memcpy(dst, buffer_.data() + begin_, part);
      begin_ += part;
      dst += part;
      size -= part;
    }
    return true;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("record spool: " + what + " in " + dir_.string() + ": " +
                             std::strerror(errno));
  }

  std::filesystem::path dir_;
  int fd_ = -1;
  std::vector<char> buffer_;  // what is being written, or [begin_, end_) of what was read
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

namespace {

// Merges `runs` (each sorted by id, then seq), calling emit(seq, record) in that order; the runs
// share `buffer_bytes` of read buffers.
template <typename Emit>
void merge_runs(const std::vector<RecordSpool::Run*>& runs, std::size_t buffer_bytes, Emit emit) {
  const std::size_t buffer_size =
      std::clamp(buffer_bytes / runs.size(), kMinReadBuffer, kMaxReadBuffer);
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
    runs[i]->start_reading(buffer_size);
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
  run->finish_writing();
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
      merge_runs(inputs, options_.merge_buffer_bytes,
                 [&](std::uint64_t seq, const records::UnsignedRecord& record) {
                   merged->write(seq, record);
                 });
      merged->finish_writing();
      ++intermediate_merges_;
      runs_.erase(runs_.begin(), runs_.begin() + static_cast<std::ptrdiff_t>(options_.fan_in));
      runs_.push_back(std::move(merged));
    }
    std::vector<Run*> inputs;
    for (const auto& run : runs_) inputs.push_back(run.get());
    merge_runs(inputs, options_.merge_buffer_bytes,
               [&](std::uint64_t, records::UnsignedRecord& record) { emit(record); });
  }
  if (!out.empty()) sink(out);
  buffer_.clear();
  buffer_bytes_ = 0;
  runs_.clear();
}

}  // namespace signer::ingest
