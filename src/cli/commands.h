// The `signer` subcommands. Each returns the process exit code; errors go to stderr.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/config.h"

namespace signer::cli {

// Parses argv and runs the chosen subcommand. The one place exceptions become exit codes.
int run_cli(int argc, char** argv);

// Registration of each subcommand family on the CLI11 app. `config` is filled by the flags.
void add_serve_command(CLI::App& app, Config& config, int& exit_code);
void add_job_commands(CLI::App& app, Config& config, int& exit_code);
void add_key_commands(CLI::App& app, Config& config, int& exit_code);

// Flags shared by several subcommands.
void add_store_flags(CLI::App& command, Config& config);
void add_keys_flag(CLI::App& command, Config& config);
void add_engine_flags(CLI::App& command, Config& config);

// Applies config.log_level to spdlog (logs go to stderr).
void configure_logging(const Config& config);

}  // namespace signer::cli
