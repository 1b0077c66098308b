#include "reload/files_fingerprint.h"

#include <sys/stat.h>

namespace signer::reload {

std::string files_fingerprint(const std::vector<std::filesystem::path>& paths) {
  std::string out;
  for (const std::filesystem::path& path : paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      out += path.string() + ":missing;";
      continue;
    }
    out += path.string() + ":" + std::to_string(st.st_dev) + "/" + std::to_string(st.st_ino) + "/" +
           std::to_string(st.st_size) + "/" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return out;
}

}  // namespace signer::reload
