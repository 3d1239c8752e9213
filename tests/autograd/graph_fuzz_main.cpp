// graph_fuzz: random-graph gradient fuzzing from the command line.
//   graph_fuzz [--graphs N] [--seed S] [--verbose]
// Checks graphs with seeds S, S+1, ..., S+N-1 (N = 0: until stopped) with gradcheck and
// gradgradcheck; prints each failing graph's seed, its C++ code and the failed check, and exits
// with status 1 when any failed (2 for bad arguments).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "tests/autograd/graph_fuzz.hpp"

int main(int argc, char** argv) {
  uint64_t graphs = 2000, seed = 1;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto number = [&](const char* flag) -> uint64_t {
      if (i + 1 >= argc) {
        std::cerr << "graph_fuzz: " << flag << " needs a number\n";
        std::exit(2);
      }
      const std::string v = argv[++i];
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || v[0] == '-') {
        std::cerr << "graph_fuzz: " << flag << " takes a non-negative integer, got '" << v << "'\n";
        std::exit(2);
      }
      return n;
    };
    if (arg == "--graphs")
      graphs = number("--graphs");
    else if (arg == "--seed")
      seed = number("--seed");
    else if (arg == "--verbose")
      verbose = true;
    else {
      std::cerr << "graph_fuzz: unknown argument '" << arg
                << "'\nusage: graph_fuzz [--graphs N (0 = unbounded)] [--seed S] [--verbose]\n";
      return 2;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t failures = 0, ran = 0, steps = 0, retried = 0;
  for (uint64_t i = 0; graphs == 0 || i < graphs; ++i) {
    const uint64_t s = seed + i;
    const xg::fuzz::GraphResult r = xg::fuzz::run_graph(s);
    ++ran;
    steps += r.steps;
    if (!r.retried.empty()) {
      ++retried;
      if (verbose) std::cout << "RETRIED: graph seed " << s << "\n" << r.retried;
    }
    if (!r.ok) {
      ++failures;
      std::cout << "FAILED: graph seed " << s << "\n"
                << r.code << "--- " << r.message << "\n"
                << std::flush;
    } else if (verbose) {
      std::cout << r.code << "ok\n\n";
    }
    if (graphs == 0 && ran % 1000 == 0)
      std::cout << ran << " graphs, " << failures << " failed (seeds " << seed << ".." << s << ")\n"
                << std::flush;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << ran << " graphs (seeds " << seed << ".." << seed + ran - 1 << ", " << steps
            << " steps, " << retried << " passed only on the looser second check) in " << secs
            << " s: " << ran - failures << " passed, " << failures << " failed\n";
  return failures ? 1 : 0;
}
