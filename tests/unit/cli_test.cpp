// The CLI's exit codes and outputs, run as a real process.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <regex>

#include "cli/commands.h"
#include "crypto/hex.h"
#include "crypto/private_key.h"
#include "keys/keystore.h"
#include "test_support.h"

namespace signer::testing {
namespace {

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto v = deterministic_vectors().at(0);
    write_file(dir_ / "keys.csv",
               v["key"].get<std::string>() + "," + v["priv"].get<std::string>() + "\n");
    priv_ = v["priv"].get<std::string>().substr(2);
  }
  std::string keys() const { return (dir_ / "keys.csv").string(); }
  TempDir dir_;
  std::string priv_;
};

TEST_F(Cli, HelpWorksOnEverySubcommand) {
  for (const char* sub : {"serve", "keygen", "load", "sign", "sign-message", "verify", "stats",
                          "export", "healthcheck"}) {
    const auto r = run_signer(std::string(sub) + " --help", dir_);
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("--"), std::string::npos) << sub;
  }
  EXPECT_NE(run_signer("", dir_).exit_code, 0);
  EXPECT_NE(run_signer("no-such-command", dir_).exit_code, 0);
}

TEST_F(Cli, KeygenWritesA0600FileAndASecretManifest) {
  const auto r =
      run_signer("keygen --count 4 --out " + (dir_ / "k").string() + " --k8s-secret my-keys", dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "k" / "keys.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string manifest = read_file(dir_ / "k" / "my-keys-secret.yaml");
  EXPECT_NE(manifest.find("kind: Secret"), std::string::npos);
  EXPECT_NE(manifest.find("name: my-keys"), std::string::npos);
  EXPECT_NE(manifest.find("keys.csv: "), std::string::npos);
  // The file is usable as a key ring, and keygen never overwrites without --force.
  EXPECT_EQ(run_signer("sign-message --keys " + (dir_ / "k" / "keys.csv").string() +
                           " --key-index 3 --msg hi",
                       dir_)
                .exit_code,
            0);
  EXPECT_NE(run_signer("keygen --count 1 --out " + (dir_ / "k").string(), dir_).exit_code, 0);
}

TEST_F(Cli, SignMessageWithGivenSaltIsDeterministicAndMatchesTheVector) {
  const auto v = deterministic_vectors().at(0);
  const auto r =
      run_signer("sign-message --keys " + keys() + " --key-index 0 --id r1 --msg " +
                     v["msg"].get<std::string>() + " --salt " + v["salt"].get<std::string>(),
                 dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["sign"], v["sign"]);
  EXPECT_EQ(out["key"], v["key"]);
  EXPECT_EQ(out["id"], "r1");
  EXPECT_EQ(r.out.find(priv_), std::string::npos);
  EXPECT_EQ(r.err.find(priv_), std::string::npos);
}

TEST_F(Cli, SignMessageRejectsAnUnknownKeyIndex) {
  const auto r = run_signer("sign-message --keys " + keys() + " --key-index 1 --msg x", dir_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("key index"), std::string::npos);
}

TEST_F(Cli, BadKeyFileExitsNonZeroNamingTheLineButNotTheKey) {
  const auto v = deterministic_vectors().at(0);
  write_file(dir_ / "bad.csv", v["key"].get<std::string>() + "," + v["priv"].get<std::string>() +
                                   "\n" + deterministic_vectors().at(3)["key"].get<std::string>() +
                                   "," + v["priv"].get<std::string>() + "\n");
  const auto r =
      run_signer("sign-message --keys " + (dir_ / "bad.csv").string() + " --msg x", dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(priv_), std::string::npos);
  EXPECT_EQ(r.out.find(priv_), std::string::npos);
}

TEST_F(Cli, VerifyExitCodes) {
  const std::string seed = read_file(shared_dir() / "vectors" / "seed_sample_record.json");
  auto r = run_signer("verify --input -", dir_, seed);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("valid 1 invalid 0"), std::string::npos);

  auto tampered = nlohmann::json::parse(seed);
  tampered["msg"] = "something else";
  r = run_signer("verify", dir_,
                 nlohmann::json::array({nlohmann::json::parse(seed), tampered}).dump());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("valid 1 invalid 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(tampered["id"].get<std::string>()), std::string::npos);

  // The same valid record twice: the second copy is a duplicate id.
  r = run_signer("verify", dir_, seed + "\n" + seed + "\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("duplicate id"), std::string::npos) << r.out;

  EXPECT_EQ(run_signer("verify --input /nonexistent", dir_).exit_code, 2);
  EXPECT_EQ(run_signer("verify", dir_, "[{\"id\":").exit_code, 2);
}

TEST_F(Cli, VerifyRejectsAMovedSaltBoundaryNamingTheRecord) {
  auto moved =
      nlohmann::json::parse(read_file(shared_dir() / "vectors" / "seed_sample_record.json"));
  const std::string salt = moved["salt"].get<std::string>();
  moved["salt"] = salt.substr(0, salt.size() - 1);  // same hashed bytes, another record
  moved["msg"] = salt.back() + moved["msg"].get<std::string>();
  moved["id"] = "moved-boundary";
  const auto r = run_signer("verify", dir_, moved.dump() + "\n");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("invalid moved-boundary: salt is not a lowercase UUIDv4"), std::string::npos)
      << r.out;
}

// Documented limit (docs/SECURITY.md "What a signature binds"): the signature covers
// Keccak-256(salt + msg) only, so `verify` cannot see a changed id. This pins that behaviour; the
// store's unique index and `signer audit verify --job` are what bind ids.
TEST_F(Cli, VerifyCannotDetectAChangedIdAsDocumented) {
  auto record =
      nlohmann::json::parse(read_file(shared_dir() / "vectors" / "seed_sample_record.json"));
  record["id"] = "some-other-id";
  const auto r = run_signer("verify", dir_, record.dump() + "\n");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("valid 1 invalid 0"), std::string::npos) << r.out;
}

TEST_F(Cli, SignMessageRefusesASaltVerifyWouldReject) {
  const auto r =
      run_signer("sign-message --keys " + keys() +
                     " --key-index 0 --id a --msg m --salt B001EBC1-F2F7-44DE-B5FF-1DA0B16AF05B",
                 dir_);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("UUIDv4"), std::string::npos) << r.err;
}

TEST_F(Cli, LoadStatsAndExportOnAFreshStore) {
  const std::string store = " --store sqlite:" + (dir_ / "s.db").string();
  auto r = run_signer("load --count 50" + store, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["accepted"], 50);
  r = run_signer("stats" + store, dir_);
  EXPECT_EQ(nlohmann::json::parse(r.out)["unsigned_records"], 50);
  r = run_signer("sign --batch-size 20 --progress never --keys " + keys() + store, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["records_signed"], 50);
  r = run_signer("export" + store, dir_);
  ASSERT_EQ(r.exit_code, 0);
  const auto v = run_signer("verify", dir_, r.out);
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("valid 50 invalid 0"), std::string::npos);
  EXPECT_NE(run_signer("load" + store, dir_).exit_code, 0);  // needs --count or --input
}

// A V3 keystore of shared vector 0's key (light scrypt), and a password file for it.
class CliKeystore : public Cli {
 protected:
  static constexpr const char* kPassword = "cli-keystore-pw-2b7d";
  void SetUp() override {
    Cli::SetUp();
    std::array<std::uint8_t, crypto::PrivateKey::kSize> bytes{};
    ASSERT_TRUE(crypto::decode_hex(priv_, bytes));
    const crypto::PrivateKey key(bytes);
    crypto::secure_zero(bytes.data(), bytes.size());
    const std::string pw(kPassword);
    const keys::Password password({reinterpret_cast<const std::uint8_t*>(pw.data()), pw.size()});
    write_file(dir_ / "UTC--vector0", keys::encrypt_keystore(key, password, keys::kLightScrypt));
    write_file(dir_ / "password", pw + "\n");
  }
  std::string keystore_flags(const std::string& password_file = "password") const {
    return " --keystore " + (dir_ / "UTC--vector0").string() + " --password-file " +
           (dir_ / password_file).string();
  }
};

TEST_F(CliKeystore, SignMessageWithAKeystoreMatchesTheVector) {
  const auto v = deterministic_vectors().at(0);
  const auto r =
      run_signer("sign-message" + keystore_flags() + " --id r1 --msg " +
                     v["msg"].get<std::string>() + " --salt " + v["salt"].get<std::string>(),
                 dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["sign"], v["sign"]);
  EXPECT_EQ(out["key"], v["key"]);
  EXPECT_EQ(r.err.find(priv_), std::string::npos);
  EXPECT_EQ(r.err.find(kPassword), std::string::npos);
}

TEST_F(CliKeystore, WrongPasswordExits2NamingTheFileButNotThePassword) {
  write_file(dir_ / "wrong", "not-the-pw-e41c\n");
  const auto r = run_signer("sign-message" + keystore_flags("wrong") + " --msg x", dir_);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find((dir_ / "UTC--vector0").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("wrong password"), std::string::npos) << r.err;
  for (const std::string& secret :
       {std::string("not-the-pw-e41c"), std::string(kPassword), priv_}) {
    EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
  }
}

TEST_F(CliKeystore, PasswordComesFromAFileOrANamedVariableAndGoesWithAKeystore) {
  const std::string keystore = " --keystore " + (dir_ / "UTC--vector0").string();
  auto r = run_signer("sign-message" + keystore + " --msg x", dir_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--password-file"), std::string::npos) << r.err;
  r = run_signer("sign-message" + keystore + " --password-env SIGNER_CLI_TEST_PW --msg x", dir_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("environment variable SIGNER_CLI_TEST_PW is not set"), std::string::npos)
      << r.err;
  r = run_signer("sign-message" + keystore + " --password-env SIGNER_CLI_TEST_PW --msg x", dir_, "",
                 "SIGNER_CLI_TEST_PW=" + std::string(kPassword));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_signer("sign-message --keys " + keys() + keystore_flags() + " --msg x", dir_);
  EXPECT_NE(r.exit_code, 0) << "--keys and --keystore together";
  r = run_signer("sign-message --keys " + keys() + " --password-file " +
                     (dir_ / "password").string() + " --msg x",
                 dir_);
  EXPECT_NE(r.exit_code, 0) << "a password without a keystore";
}

TEST_F(CliKeystore, KeygenWritesGoEthereumNamedKeystoresThatSignMessageLoads) {
  const auto out = dir_ / "ks";
  const auto r = run_signer("keygen --format keystore --count 2 --scrypt-n 16 --out " +
                                out.string() + " --password-file " + (dir_ / "password").string(),
                            dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::regex line(R"((\d) (0x[0-9a-fA-F]{40}) (0x04[0-9a-f]{128}) (\S+)\n)");
  const std::regex name(R"(UTC--\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{9}Z--([0-9a-f]{40}))");
  std::size_t keys_listed = 0;
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), line);
       it != std::sregex_iterator(); ++it, ++keys_listed) {
    const std::filesystem::path file = (*it)[4].str();
    std::smatch parts;
    const std::string file_name = file.filename().string();
    ASSERT_TRUE(std::regex_match(file_name, parts, name)) << file_name;
    std::string address = (*it)[2].str().substr(2);
    for (char& c : address) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(parts[1].str(), address);
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    const auto signed_record =
        run_signer("sign-message --keystore " + file.string() + " --password-file " +
                       (dir_ / "password").string() + " --msg hi",
                   dir_);
    ASSERT_EQ(signed_record.exit_code, 0) << signed_record.err;
    EXPECT_EQ(nlohmann::json::parse(signed_record.out)["key"], (*it)[3].str());
  }
  EXPECT_EQ(keys_listed, 2u) << r.out;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out),
                          std::filesystem::directory_iterator()),
            2);
}

TEST_F(CliKeystore, KeygenRefusesAKeystoreWithoutAUsablePassword) {
  const std::string base = "keygen --format keystore --count 1 --scrypt-n 16 --out ";
  write_file(dir_ / "empty", "\n");
  auto r = run_signer(
      base + (dir_ / "a").string() + " --password-file " + (dir_ / "empty").string(), dir_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
  r = run_signer(base + (dir_ / "b").string(), dir_);
  EXPECT_NE(r.exit_code, 0);
  r = run_signer("keygen --format keystore --count 1 --out " + (dir_ / "c").string() +
                     " --scrypt-n 1000 --password-file " + (dir_ / "password").string(),
                 dir_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("power of 2"), std::string::npos) << r.err;
  r = run_signer("keygen --count 1 --scrypt-n 16 --out " + (dir_ / "d").string(), dir_);
  EXPECT_NE(r.exit_code, 0) << "--scrypt-n without --format keystore";
}

// A secret's --*-file / --*-env pair: exactly one, else the caller's message.
TEST(SecretSource, ExactlyOneOfFileAndEnvironment) {
  const auto file = cli::secret_source("/run/pin", "", "need one");
  EXPECT_EQ(file.kind, keys::PasswordSource::Kind::kFile);
  EXPECT_EQ(file.location, "/run/pin");
  const auto env = cli::secret_source("", "PIN_VAR", "need one");
  EXPECT_EQ(env.kind, keys::PasswordSource::Kind::kEnvironment);
  EXPECT_EQ(env.location, "PIN_VAR");
  for (const auto& [f, e] :
       {std::pair<std::string, std::string>{"", ""}, {"/run/pin", "PIN_VAR"}}) {
    try {
      cli::secret_source(f, e, "need one");
      ADD_FAILURE() << "accepted file '" << f << "' and env '" << e << "'";
    } catch (const std::invalid_argument& err) {
      EXPECT_STREQ(err.what(), "need one");
    }
  }
}

}  // namespace
}  // namespace signer::testing
