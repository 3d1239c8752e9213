// Crash safety of the landscape CSV: a child evaluating a 2D grid is killed (SIGKILL) after each
// number of rows, at each file stage (XGRAD_TEST_CRASH_AT, see viz/evaluate.cpp) and at random
// moments, then the grid is resumed; the final CSV must be byte-identical to an uninterrupted
// run's. A last line cut short (a torn row) is dropped on resume and refused by read_grid_csv.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "tests/test_util.hpp"
#include "viz/viz.hpp"

using namespace xg;
using xg::test::error_of;
namespace fs = std::filesystem;

namespace {

struct Folder {
  fs::path dir;
  Folder() {
    static int n = 0;
    dir = fs::temp_directory_path() /
          ("xgrad_test_landscape_crash_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Folder() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

/// Runs `body` in a forked child; returns the signal that ended it, or -(exit status).
int in_child(const std::function<void()>& body, const std::function<void(pid_t)>& parent = {}) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      body();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  if (parent) parent(pid);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
}

/// A 6 x 5 grid of an MLP 2-8-3 on 3 blobs, one thread (the order rows are appended in).
struct Setup {
  viz::ModelFactory make = [] { return std::make_shared<nn::MLP>(std::vector<int64_t>{2, 8, 3}); };
  std::shared_ptr<nn::Module> net;
  nn::TensorDataset data = nn::make_blobs(60, 3, 2, 1.0, 11);
  std::vector<viz::Direction> dirs;
  static constexpr std::size_t kPoints = 30;
  Setup() {
    manual_seed(12);
    net = make();
    dirs = {viz::random_direction(*net, viz::DirectionOptions().seed(1)),
            viz::random_direction(*net, viz::DirectionOptions().seed(2))};
  }
  viz::Grid run(const std::string& csv, const viz::EvalOptions& o = viz::EvalOptions()) const {
    return viz::evaluate_grid(
        make, *net, dirs, {"-1:1:6", "-0.5:0.5:5"}, data,
        viz::EvalOptions(o).progress(false).threads(1).batch_size(16).csv(csv));
  }
};

}  // namespace

TEST_CASE("landscape crash: SIGKILL after every row count and at each file stage, then resume") {
  const Setup s;
  Folder tmp;
  const std::string ref_csv = tmp / "ref.csv";
  REQUIRE(s.run(ref_csv).complete);
  const std::string expected = slurp(ref_csv);
  const std::string csv = tmp / "run.csv", meta = tmp / "run.json";

  // Killed after k rows were appended (k = 0 .. all of them).
  for (std::size_t k = 0; k <= Setup::kPoints; ++k) {
    CAPTURE(k);
    fs::remove(csv);
    fs::remove(meta);
    const int how = in_child([&] {
      std::size_t n = 0;
      if (k == 0) ::setenv("XGRAD_TEST_CRASH_AT", "landscape_header", 1);
      s.run(csv, viz::EvalOptions().on_point([&](const viz::GridPoint&) {
        if (++n == k) ::raise(SIGKILL);
        return true;
      }));
    });
    CHECK(how == SIGKILL);
    const viz::Grid rest = s.run(csv);
    CHECK(rest.complete);
    CHECK(rest.computed == Setup::kPoints - k);
    CHECK(slurp(csv) == expected);
  }

  // Killed at each stage of the file handling: a fresh run (no files), and a rerun with
  // resume(false) over a finished file of the same settings.
  for (const char* stage :
       {"landscape_truncated", "landscape_header", "landscape_sorting", "landscape_sorted"}) {
    for (bool over_old : {false, true}) {
      CAPTURE(stage);
      CAPTURE(over_old);
      fs::remove(csv);
      fs::remove(meta);
      if (over_old) REQUIRE(s.run(csv).complete);
      const int how = in_child([&] {
        ::setenv("XGRAD_TEST_CRASH_AT", stage, 1);
        s.run(csv, viz::EvalOptions().resume(!over_old));
      });
      CHECK(how == SIGKILL);
      const std::string e = error_of([&] { CHECK(s.run(csv).complete); });
      CHECK(e == "(no error)");
      CHECK(slurp(csv) == expected);
    }
  }
}

TEST_CASE("landscape crash: random SIGKILLs of a chain of resuming children") {
  const Setup s;
  Folder tmp;
  const std::string ref_csv = tmp / "ref.csv";
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(s.run(ref_csv).complete);
  const long run_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  const std::string expected = slurp(ref_csv);
  std::mt19937 rng(77);
  std::uniform_int_distribution<long> delay(0, std::max<long>(run_us, 500));
  // Chains of children, each resuming what the previous one left, until 30 kills (the count does
  // not depend on timing: a child that finishes just ends its chain).
  std::size_t rounds = 0, kills = 0, chains = 0;
  while (kills < 30 && rounds < 300) {
    const std::string csv = tmp / ("run" + std::to_string(chains++) + ".csv");
    for (int attempt = 0; attempt < 10 && kills < 30; ++attempt) {
      CAPTURE(chains);
      CAPTURE(attempt);
      ++rounds;
      int ready[2];
      REQUIRE(::pipe(ready) == 0);
      const int how = in_child(
          [&] {
            ::close(ready[0]);
            char c = 'r';
            if (::write(ready[1], &c, 1) != 1) ::_exit(4);
            s.run(csv);
          },
          [&](pid_t pid) {
            ::close(ready[1]);
            char c = 0;
            REQUIRE(::read(ready[0], &c, 1) == 1);
            ::close(ready[0]);
            std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
            ::kill(pid, SIGKILL);
          });
      CHECK((how == SIGKILL || how == 0));  // never an error (exit status 3)
      if (how != SIGKILL) break;
      ++kills;
    }
    const viz::Grid rest = s.run(csv);
    CHECK(rest.complete);
    CHECK(slurp(csv) == expected);
  }
  MESSAGE("uninterrupted grid: " << run_us << " us; " << kills << " kills in " << rounds
                                 << " child runs, " << chains << " chains");
  CHECK(kills == 30);
}

TEST_CASE("landscape crash: a torn last row is dropped on resume and refused by read_grid_csv") {
  const Setup s;
  Folder tmp;
  const std::string ref_csv = tmp / "ref.csv";
  REQUIRE(s.run(ref_csv).complete);
  const std::string expected = slurp(ref_csv);
  // A partial file: 9 rows appended, then the process died.
  const std::string csv = tmp / "run.csv", meta = tmp / "run.json";
  std::size_t n = 0;
  s.run(csv, viz::EvalOptions().on_point([&](const viz::GridPoint&) { return ++n < 9; }));
  const std::string partial = slurp(csv), partial_meta = slurp(meta);
  REQUIRE(partial.back() == '\n');
  // Cuts in the header, at and beside every row boundary, and at random bytes: the complete
  // rows before the cut are kept, the torn one recomputed.
  std::vector<std::size_t> ends;  // just after each line's newline
  for (std::size_t b = partial.find('\n'); b != std::string::npos; b = partial.find('\n', b + 1))
    ends.push_back(b + 1);
  REQUIRE(ends.size() == 10);
  // Cuts: in the header, after it, in the first row, after it, in the last row, after the 8th.
  // (Each resume syncs its files; a few cuts keep this test short.)
  std::vector<std::size_t> cuts = {0, 10, ends[0], ends[1] - 1, ends[1], ends[8], ends[9] - 2};
  std::mt19937 rng(5);
  for (int i = 0; i < 3; ++i) cuts.push_back(rng() % partial.size());
  for (std::size_t len : cuts) {
    CAPTURE(len);
    write_bytes(csv, partial.substr(0, len));
    write_bytes(meta, partial_meta);
    const std::string e = error_of([&] { CHECK(s.run(csv).complete); });
    CHECK(e == "(no error)");
    CHECK(slurp(csv) == expected);
  }
  // The finished file cut short anywhere past its header is never read as a valid grid.
  const std::size_t header = expected.find('\n') + 1;
  for (std::size_t len = header; len < expected.size();
       len += len + 100 < expected.size() ? 7 : 1) {
    CAPTURE(len);
    write_bytes(ref_csv, expected.substr(0, len));
    CHECK_THROWS_AS(viz::read_grid_csv(ref_csv), std::exception);
  }
  write_bytes(ref_csv, expected.substr(0, expected.size() - 3));
  std::string e = error_of([&] { viz::read_grid_csv(ref_csv); });
  CHECK_MESSAGE(e.find(ref_csv + " line 31 was cut short") != std::string::npos, e);
  // Whole rows of an interrupted run (here 3 of the 6 grid lines) are refused by the metadata.
  std::size_t cut = header;
  for (int row = 0; row < 15; ++row) cut = expected.find('\n', cut) + 1;
  write_bytes(ref_csv, expected.substr(0, cut));
  e = error_of([&] { viz::read_grid_csv(ref_csv); });
  CHECK_MESSAGE(e.find("is an unfinished grid: it has 15 rows") != std::string::npos, e);
  write_bytes(ref_csv, expected);
  CHECK(viz::read_grid_csv(ref_csv).loss.size() == Setup::kPoints);
  // The partial run's file (complete: false) likewise.
  write_bytes(csv, partial);
  write_bytes(meta, partial_meta);
  e = error_of([&] { viz::read_grid_csv(csv); });
  CHECK_MESSAGE(e.find("says 9 of 30 points are done (complete: false)") != std::string::npos, e);
}
