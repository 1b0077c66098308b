// Key sets: the YAML config, loading csv and keystore keys into one set, and the holder's
// reloads (SIGHUP's and the file watcher's), which keep the old set when the new one fails.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "crypto/key_ring.h"
#include "crypto/message_signer.h"
#include "crypto/signature_verifier.h"
#include "keys/key_set.h"
#include "keys/key_set_config.h"
#include "keys/key_set_holder.h"
#include "keys/keystore.h"
#include "test_support.h"

namespace signer::keys {
namespace {

constexpr ScryptParams kTestScrypt{16, 8, 1};

// keys.csv text of a fresh ring of `n` keys, and the ring.
std::string csv_of(const crypto::KeyRing& ring) { return ring.to_csv(); }

// A keystore file (password "pw") of `ring`'s key `index`, written to `path`.
void write_keystore(const std::filesystem::path& path, const crypto::KeyRing& ring,
                    std::size_t index) {
  const std::string pw = "pw";
  const Password password(std::span(reinterpret_cast<const std::uint8_t*>(pw.data()), pw.size()));
  testing::write_file(path, encrypt_keystore(ring.at(index).private_key, password, kTestScrypt));
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(KeySetConfig, ReadsCsvAndKeystoreEntriesAndResolvesRelativePaths) {
  const auto config = parse_key_set_config(R"(
keys:
  - source: csv
    file: keys.csv
  - source: keystore
    file: /abs/UTC--x
    password_file: secret/pw
  - source: keystore
    file: ks2
    password_env: KS_PASSWORD
)",
                                           "/etc/signer/keys.yaml");
  ASSERT_EQ(config.entries.size(), 3u);
  EXPECT_EQ(config.entries[0].source, KeySource::kCsv);
  EXPECT_EQ(config.entries[0].file, "/etc/signer/keys.csv");
  EXPECT_EQ(config.entries[1].source, KeySource::kKeystore);
  EXPECT_EQ(config.entries[1].file, "/abs/UTC--x");
  EXPECT_EQ(config.entries[1].password.kind, PasswordSource::Kind::kFile);
  EXPECT_EQ(config.entries[1].password.location, "/etc/signer/secret/pw");
  EXPECT_EQ(config.entries[2].password.kind, PasswordSource::Kind::kEnvironment);
  EXPECT_EQ(config.entries[2].password.location, "KS_PASSWORD");
  const auto watched = config.watched_files();
  EXPECT_EQ(watched.size(), 5u);  // the config, 3 key files, 1 password file
}

TEST(KeySetConfig, RefusesWhatItCannotUseNamingTheFileAndLine) {
  const struct {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"keys: [", "not valid YAML"},
      {"- a\n- b\n", "must be a mapping with a `keys` list"},
      {"keys: []\n", "`keys` must be a non-empty list"},
      {"other: 1\n", "unknown field `other`"},
      {"{}\n", "`keys` must be a non-empty list"},
      {"keys:\n  - source: vault\n    file: x\n", "line 2: unknown source `vault`"},
      {"keys:\n  - source: csv\n    file: k\n    pasword_file: p\n",
       "line 4: unknown field `pasword_file`"},
      {"keys:\n  - source: keystore\n    file: k\n",
       "exactly one of `password_file` and `password_env`"},
      {"keys:\n  - source: keystore\n    file: k\n    password_file: a\n    password_env: B\n",
       "exactly one of"},
      {"keys:\n  - source: csv\n", "`file` must be a non-empty string"},
      {"keys:\n  - source: csv\n    file: k\nextra: 1\n", "unknown field `extra`"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    try {
      parse_key_set_config(c.yaml, "/etc/keys.yaml");
      ADD_FAILURE() << "accepted";
    } catch (const KeyConfigError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("/etc/keys.yaml"), std::string::npos) << message;
      EXPECT_NE(message.find(c.want), std::string::npos) << message;
    }
  }
}

class KeySetFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_file(dir_ / "keys.csv", csv_of(csv_ring_));
    write_keystore(dir_ / "UTC--key", keystore_ring_, 0);
    testing::write_file(dir_ / "pw", "pw\n");
    write_config("keys.csv");
  }
  void write_config(const std::string& csv) {
    testing::write_file(dir_ / "keys.yaml", "keys:\n  - source: csv\n    file: " + csv +
                                                "\n  - source: keystore\n    file: UTC--key\n"
                                                "    password_file: pw\n");
  }
  KeySetHolder::Loaded load(std::uint64_t version) {
    const auto config = read_key_set_config(dir_ / "keys.yaml");
    std::vector<std::string> warnings;
    return {load_key_set(config, version, warnings), config.watched_files()};
  }

  testing::TempDir dir_;
  crypto::KeyRing csv_ring_ = crypto::KeyRing::generate(2);
  crypto::KeyRing keystore_ring_ = crypto::KeyRing::generate(1);
};

TEST_F(KeySetFiles, LoadsEveryKeyInConfigOrderWithItsSourceAndSignsWithEach) {
  const auto set = load(7).set;
  ASSERT_EQ(set->size(), 3u);
  EXPECT_EQ(set->version(), 7u);
  EXPECT_EQ(set->at(0).public_key(), csv_ring_.at(0).public_key);
  EXPECT_EQ(set->at(1).public_key(), csv_ring_.at(1).public_key);
  EXPECT_EQ(set->at(2).public_key(), keystore_ring_.at(0).public_key);
  EXPECT_EQ(set->at(0).source(), KeySource::kCsv);
  EXPECT_EQ(set->at(2).source(), KeySource::kKeystore);
  EXPECT_EQ(set->at(2).origin(), (dir_ / "UTC--key").string());
  EXPECT_EQ(set->find(keystore_ring_.at(0).address), 2u);
  crypto::MessageSigner signer;
  for (std::size_t i = 0; i < set->size(); ++i) {
    const std::string salt = "2b5b8f7c-4d3f-4a55-9c1e-0d6f1e2a3b4c";
    const std::string sign = set->at(i).sign_salted(signer, salt, "hello");
    EXPECT_EQ(crypto::verify_signature(signer, salt, "hello", sign, set->at(i).public_key()),
              crypto::Verdict::kValid)
        << i;
  }
}

TEST_F(KeySetFiles, TheSameKeyTwiceIsRefused) {
  testing::write_file(dir_ / "keys.yaml",
                      "keys:\n  - source: csv\n    file: keys.csv\n  - source: csv\n"
                      "    file: keys.csv\n");
  const std::string message = message_of([&] { load(1); });
  EXPECT_NE(message.find("twice"), std::string::npos) << message;
}

TEST_F(KeySetFiles, AWrongKeystorePasswordNamesTheFileAndNoSecret) {
  testing::write_file(dir_ / "pw", "not-the-password\n");
  const std::string message = message_of([&] { load(1); });
  EXPECT_NE(message.find("UTC--key"), std::string::npos) << message;
  EXPECT_EQ(message.find("not-the-password"), std::string::npos) << message;
}

TEST_F(KeySetFiles, AReloadSwapsTheSetAndKeepsThePreviousOneFindable) {
  KeySetHolder holder([&](std::uint64_t v) { return load(v); });
  const auto first = holder.current();
  crypto::KeyRing rotated = crypto::KeyRing::generate(2);
  testing::write_file(dir_ / "keys.csv", csv_of(rotated));
  EXPECT_EQ(holder.reload("test"), "");
  const auto second = holder.current();
  EXPECT_EQ(second->version(), 2u);
  EXPECT_EQ(second->at(0).public_key(), rotated.at(0).public_key);
  // A job that holds the first set still has it whole.
  EXPECT_EQ(first->at(0).public_key(), csv_ring_.at(0).public_key);
  // A peer's batch for a key of the old set still finds it; an index names the current set.
  EXPECT_EQ(holder.find_set_with(csv_ring_.at(0).public_key), first);
  EXPECT_EQ(holder.find_set_with(rotated.at(1).public_key), second);
  EXPECT_EQ(holder.find_set_with("0"), second);
  EXPECT_EQ(holder.status().reloads, 1u);
}

TEST_F(KeySetFiles, AFailedReloadKeepsTheOldSetAndSaysWhy) {
  KeySetHolder holder([&](std::uint64_t v) { return load(v); });
  testing::write_file(dir_ / "keys.csv", "0x04nonsense,0x00\n");
  const std::string error = holder.reload("test");
  EXPECT_NE(error, "");
  EXPECT_EQ(holder.current()->version(), 1u);
  EXPECT_EQ(holder.current()->at(0).public_key(), csv_ring_.at(0).public_key);
  const auto status = holder.status();
  EXPECT_EQ(status.failed_reloads, 1u);
  EXPECT_EQ(status.last_error, error);
  EXPECT_EQ(status.version, 1u);
}

TEST_F(KeySetFiles, TheWatcherReloadsWhenAKeyFileIsReplaced) {
  KeySetHolder holder([&](std::uint64_t v) { return load(v); });
  holder.watch(std::chrono::milliseconds(50));
  crypto::KeyRing rotated = crypto::KeyRing::generate(1);
  // As a Kubernetes Secret update does: a new file renamed over the old path.
  testing::write_file(dir_ / "keys.csv.new", csv_of(rotated));
  std::filesystem::rename(dir_ / "keys.csv.new", dir_ / "keys.csv");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (holder.current()->version() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(holder.current()->version(), 2u);
  EXPECT_EQ(holder.current()->at(0).public_key(), rotated.at(0).public_key);
  EXPECT_EQ(holder.current()->size(), 2u);  // 1 csv key + the keystore key
}

}  // namespace
}  // namespace signer::keys
