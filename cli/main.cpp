// The `xgrad` command line (CLI11): train, eval, graph, landscape, info, bench, report, demo.
// Every error prints one line "xgrad: error: ..." and exits with status 2.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"xgrad: train, inspect and visualize models on Fashion-MNIST"};
  app.require_subcommand(0, 1);
  xgcli::add_demo(app);
  xgcli::add_train(app);
  xgcli::add_eval(app);
  xgcli::add_graph(app);
  xgcli::add_landscape(app);
  xgcli::add_info(app);
  xgcli::add_bench(app, argv[0]);
  xgcli::add_report(app);
  try {
    app.parse(argc, argv);  // runs the chosen subcommand's callback
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "xgrad: error: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "xgrad: error: " << e.what() << "\n";
    return 2;
  }
  if (app.get_subcommands().empty()) std::cout << app.help();
  return 0;
}
