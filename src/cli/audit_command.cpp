// `signer audit verify --job ID`: the audit trail's check from the command line. Prints one line
// per mismatch (record id and why) and a summary to stdout; errors go to stderr.
// An eip712 job needs its scheme file (--scheme-file). Exit codes: 0 all agree, 1 any mismatch,
// 2 unknown (or malformed) job id, 3 store error.
#include <iostream>

#include "audit/job_id.h"
#include "audit/job_verifier.h"
#include "cli/commands.h"
#include "cli/service_graph.h"

namespace signer::cli {
namespace {

int verify_job(Config& config, const std::string& job_id, bool check_key_file) {
  finish_config(config);
  configure_logging(config);
  if (!audit::is_valid_job_id(job_id)) {
    std::cerr << "error: not a job id: expected j-<12 hex>-<16 hex>\n";
    return 2;
  }
  auto store = open_configured_store(config);
  const auto job = store->find_job(job_id);
  if (!job) {
    std::cerr << "error: no job with id " << job_id << " in " << store->describe() << "\n";
    return 2;
  }
  std::uint64_t key_problems = 0;
  if (check_key_file) {
    // With a key file, the keys the job recorded must also be keys of this deployment.
    const auto keys = load_key_set(config, 1).set;
    for (const audit::KeyGrant& grant : job->keys) {
      if (!keys->find(grant.public_key)) {
        ++key_problems;
        std::cout << "mismatch job key " << grant.address << ": not in " << config.keys_file
                  << "\n";
      }
    }
  }
  // An eip712 job is checked with its scheme file (--scheme-file), recomputing every digest.
  audit::VerifyReport report =
      audit::verify_job(*store, *job, load_schemes(config), [](const audit::Mismatch& m) {
        std::cout << "mismatch " << (m.record_id.empty() ? "job" : "record " + m.record_id) << ": "
                  << m.reason << "\n";
      });
  report.mismatches += key_problems;  // the job's keys that are not in --keys
  std::cout << "job " << job->id << " (" << audit::to_string(job->state)
            << "): " << report.summary() << "\n";
  return report.ok() ? 0 : 1;
}

}  // namespace

void add_audit_commands(CLI::App& app, Config& config, CommandArgs& args, int& exit_code) {
  CLI::App* audit = app.add_subcommand("audit", "Check the audit trail");
  audit->require_subcommand(1);
  CLI::App* verify = audit->add_subcommand(
      "verify", "Check a job's signed records against its record (exit 0 ok, 1 mismatch)");
  verify->add_option("--job", args.job_id, "Job id (j-<12 hex>-<16 hex>)")->required();
  add_store_flags(*verify, config);
  add_scheme_flags(*verify, config, false);
  CLI::Option* keys = verify->add_option(
      "--keys", config.keys_file, "keys.csv: also require the job's keys to be in it (optional)");
  verify->callback([&, keys] { exit_code = verify_job(config, args.job_id, keys->count() > 0); });
}

}  // namespace signer::cli
