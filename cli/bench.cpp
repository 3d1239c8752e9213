// `xgrad bench`: runs the main cases of bench/'s programs (built next to this binary, in
// <build>/bench/) and prints their RESULT lines as a table; --torch runs bench/run.sh instead,
// which puts xgrad and the PyTorch twins side by side with ratios.
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/common.hpp"

namespace fs = std::filesystem;

namespace xgcli {

namespace {

/// Runs `command` through the shell; returns its stdout, throws on a non-zero exit.
std::string run(const std::string& command) {
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + command);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0) throw std::runtime_error(command + " failed (status " + std::to_string(rc) + ")");
  return out;
}

/// Prints "RESULT bench=NAME k=v ..." lines as NAME followed by its key=value pairs.
void print_results(const std::string& output) {
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("RESULT ", 0) != 0) continue;
    std::istringstream words(line.substr(7));
    std::string word, name;
    std::vector<std::string> rest;
    while (words >> word) {
      if (word.rfind("bench=", 0) == 0)
        name = word.substr(6);
      else
        rest.push_back(word);
    }
    std::cout << std::left << std::setw(12) << name;
    std::size_t col = 12;
    for (const std::string& w : rest) {
      if (col + w.size() + 1 > 110) {
        std::cout << "\n" << std::string(12, ' ');
        col = 12;
      }
      std::cout << " " << w;
      col += w.size() + 1;
    }
    std::cout << "\n";
  }
}

}  // namespace

void add_bench(CLI::App& app, const std::string& argv0) {
  struct Args {
    std::string only, build;
    bool torch = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("bench", "Run bench/'s programs (main cases) and print the table");
  cmd->add_option("--only", a->only, "One program: overhead, deep, fmnist or landscape")
      ->check(CLI::IsMember({"overhead", "deep", "fmnist", "landscape"}));
  cmd->add_option("--build", a->build, "Build folder (default: the one this xgrad was built in)");
  cmd->add_flag("--torch", a->torch,
                "Run bench/run.sh: xgrad and PyTorch side by side, with ratios");
  cmd->callback([a, argv0] {
    // <build>/cli/xgrad -> <build>/bench/
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) self = fs::absolute(argv0);
    const fs::path build = a->build.empty() ? self.parent_path().parent_path() : fs::path(a->build);
    const fs::path bench = build / "bench";
    if (a->torch) {
      const fs::path script = fs::path(XGRAD_SOURCE_DIR) / "bench" / "run.sh";
      if (!fs::exists(script)) throw std::runtime_error(script.string() + " not found");
      const std::string env = a->only.empty() ? "" : "ONLY=" + a->only + " ";
      std::cout << run(env + "bash " + script.string() + " " + build.string());
      return;
    }
    struct Case {
      std::string name, program, args;
    };
    const std::vector<Case> cases{{"overhead", "bench_overhead", "3"},
                                  {"deep", "bench_deep", ""},
                                  {"fmnist", "bench_fmnist", "mlp 1"},
                                  {"landscape", "bench_landscape", ""}};
    for (const Case& c : cases) {
      if (!a->only.empty() && a->only != c.name) continue;
      if (!fs::exists(bench / c.program))
        throw std::runtime_error((bench / c.program).string() +
                                 " not found; build it first: "
                                 "cmake --build " +
                                 build.string() + " --target " + c.program);
    }
    for (const Case& c : cases) {
      if (!a->only.empty() && a->only != c.name) continue;
      const std::string command = (bench / c.program).string() + " " + c.args;
      std::cout << "## " << command << "\n" << std::flush;
      print_results(run(command + " 2>/dev/null"));
    }
  });
}

}  // namespace xgcli
