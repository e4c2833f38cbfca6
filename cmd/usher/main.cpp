// The usher binary: everything happens in run_cli so that every verb can be
// tested without spawning a process.
#include <iostream>
#include <string>
#include <vector>

#include "cmd/usher/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return usher::cmd::run_cli(args, std::cout, std::cerr);
}
