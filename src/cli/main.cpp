// Entry point of the one binary, `signer`. Everything else lives in the library.
#include "cli/commands.h"

int main(int argc, char** argv) { return signer::cli::run_cli(argc, argv); }
