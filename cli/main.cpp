// The `xgrad` command line (CLI11): train, eval, graph, landscape, info, bench.
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"xgrad: train, inspect and visualize models on Fashion-MNIST"};
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);
  if (app.get_subcommands().empty()) std::cout << app.help();
  return 0;
}
