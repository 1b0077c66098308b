// Helpers shared by the unit tests: the shared vectors, temp directories, running the CLI, and
// the secp256k1 group order.
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace signer::testing {

// The secp256k1 group order n, big-endian: the tests' own copy, a witness independent of the
// product's.
inline constexpr std::array<std::uint8_t, 32> kSecp256k1Order{
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};

inline std::filesystem::path shared_dir() {
  if (const char* dir = std::getenv("SIGNER_SHARED_DIR")) return dir;
  return SIGNER_SHARED_DIR;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// One JSON value per non-empty line of the file at `path`.
inline std::vector<nlohmann::json> read_ndjson(const std::filesystem::path& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

inline std::vector<nlohmann::json> deterministic_vectors() {
  return read_ndjson(shared_dir() / "vectors" / "deterministic.ndjson");
}

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "signer-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, const std::string& content,
                       std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                                      std::filesystem::perms::owner_write) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  std::filesystem::permissions(path, perms);
}

struct CommandResult {
  int exit_code;
  std::string out;
  std::string err;
};

// Runs the signer binary with `args` (a shell-quoted string), capturing stdout and stderr.
// `environment` is prepended to the command line, e.g. "NAME=value" (shell-quoted too).
inline CommandResult run_signer(const std::string& args, const TempDir& dir,
                                const std::string& stdin_text = "",
                                const std::string& environment = "") {
  const auto in = dir / "stdin.txt";
  const auto out = dir / "stdout.txt";
  const auto err = dir / "stderr.txt";
  write_file(in, stdin_text);
  const std::string cmd = (environment.empty() ? "" : environment + " ") +
                          std::string(SIGNER_BINARY) + " " + args + " <" + in.string() + " >" +
                          out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out), read_file(err)};
}

}  // namespace signer::testing
