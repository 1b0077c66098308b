// Entry point of the one binary, `signer`. Everything else lives in the library.
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "cli/commands.h"

namespace {

// libmongoc initializes itself before main (Debian builds it with its automatic init), in every
// signer process whatever its store, and puts its performance counters in a shared-memory file,
// /dev/shm/mongoc-PID, which only mongoc's own stat tool reads. A process killed with SIGKILL
// left that file behind, and a later process given the same pid could not make its own: mongoc
// then falls back to memory and says so on stderr, in a line outside the log's format. Unlinking
// the file at once keeps the counters (the mapping outlives the name) and leaves nothing behind.
void unlink_mongoc_counters_file() {
  const std::string name = "/mongoc-" + std::to_string(::getpid());
  ::shm_unlink(name.c_str());  // ENOENT when mongoc made none (MONGOC_DISABLE_SHM): nothing to do
}

}  // namespace

int main(int argc, char** argv) {
  unlink_mongoc_counters_file();
  return signer::cli::run_cli(argc, argv);
}
