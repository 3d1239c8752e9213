// Deep graphs: the C++ twin of ../shared/bench/torch_deep.py. Builds a chain of N small ops,
// backward, drops the graph.
//
// Usage: bench_deep               # runs all cases, each in a child process
//        bench_deep N MODE        # one case (what the parent runs)
// N in {100000, 1000000}; MODE:
//   backward  : build, h.backward(), then drop h (frees the now-saved-tensor-less graph)
//   nobackward: build, then drop h without any backward (full graph with saved tensors)
// Chain: x = tensor({0.5}) requiring grad; ops alternate h+0.01, h*0.99, tanh(h) (1-element
// float32, double operands). Each case runs in its own process (fork + exec of this binary) so
// that peak RSS (getrusage ru_maxrss) and a crash (negative return code = signal) are per case.
// The main-thread stack limit (ulimit -s as inherited) is reported.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "autograd/autograd.hpp"
#include "bench/common.hpp"

namespace {

int child(long n, const std::string& mode) {
  bench::set_threads(2);
  const double base_rss = bench::cur_rss_mb();
  xg::Tensor x = xg::tensor({0.5});
  x.requires_grad_(true);
  const double t0 = bench::now();
  xg::Tensor h = x;
  for (long k = 0; k < n; ++k) {
    const long r = k % 3;
    if (r == 0)
      h = h + 0.01;
    else if (r == 1)
      h = h * 0.99;
    else
      h = xg::tanh(h);
  }
  const double t1 = bench::now();
  const double built_rss = bench::cur_rss_mb();
  if (mode == "backward") h.backward();
  const double t2 = bench::now();
  h = xg::Tensor();  // del h
  const double t3 = bench::now();
  const double after_rss = bench::cur_rss_mb();
  const double g = x.grad().defined() ? x.grad().item<float>() : std::nan("");
  std::printf(
      "CHILD n=%ld mode=%s build_s=%.3f backward_s=%.3f free_s=%.3f grad=%.6g "
      "base_rss_mb=%.0f built_rss_mb=%.0f after_free_rss_mb=%.0f peak_rss_mb=%.0f "
      "graph_bytes_per_op=%.0f\n",
      n, mode.c_str(), t1 - t0, t2 - t1, t3 - t2, g, base_rss, built_rss, after_rss,
      bench::peak_rss_mb(), (built_rss - base_rss) * 1048576.0 / static_cast<double>(n));
  std::fflush(stdout);
  return 0;
}

std::string read_file(const char* path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct ChildResult {
  int returncode = 0;  // exit status, or -signal (as subprocess.run)
  std::string out, err;
};

/// Runs this binary with args N MODE, capturing stdout and stderr (in temporary files).
ChildResult run_child(long n, const std::string& mode) {
  char out_path[] = "/tmp/bench_deep_out_XXXXXX";
  char err_path[] = "/tmp/bench_deep_err_XXXXXX";
  const int out_fd = mkstemp(out_path);
  const int err_fd = mkstemp(err_path);
  if (out_fd < 0 || err_fd < 0) {
    std::perror("bench_deep: mkstemp");
    std::exit(2);
  }
  const std::string n_arg = std::to_string(n);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("bench_deep: fork");
    std::exit(2);
  }
  if (pid == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    const char* argv[] = {"bench_deep", n_arg.c_str(), mode.c_str(), nullptr};
    execv("/proc/self/exe", const_cast<char* const*>(argv));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  ChildResult r;
  r.returncode = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
  close(out_fd);
  close(err_fd);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  unlink(out_path);
  unlink(err_path);
  return r;
}

int parent() {
  rlimit rl{};
  getrlimit(RLIMIT_STACK, &rl);
  if (rl.rlim_cur == RLIM_INFINITY)
    std::printf("# stack_limit=unlimited\n");
  else
    std::printf("# stack_limit=%llu\n", static_cast<unsigned long long>(rl.rlim_cur));
  const std::vector<std::pair<long, std::string>> cases = {
      {100000, "backward"}, {100000, "nobackward"}, {1000000, "backward"}, {1000000, "nobackward"}};
  for (const auto& [n, mode] : cases) {
    const double t0 = bench::now();
    const ChildResult p = run_child(n, mode);
    const double wall = bench::now() - t0;
    std::string line;
    std::istringstream lines(p.out);
    for (std::string l; std::getline(lines, l);)
      if (l.rfind("CHILD", 0) == 0) {
        line = l;
        break;
      }
    std::map<std::string, std::string> fields;
    std::istringstream words(line);
    std::string w;
    words >> w;  // "CHILD"
    while (words >> w)
      if (const auto eq = w.find('='); eq != std::string::npos)
        fields[w.substr(0, eq)] = w.substr(eq + 1);
    auto field = [&](const char* k) {
      const auto it = fields.find(k);
      return it == fields.end() ? std::string("na") : it->second;
    };
    if (!line.empty()) {
      std::printf("%s\n", line.c_str());
    } else {
      std::string tail = p.err.size() > 500 ? p.err.substr(p.err.size() - 500) : p.err;
      std::string flat;
      for (char c : tail) flat += c == '\n' ? std::string(" | ") : std::string(1, c);
      std::printf("# child stderr tail: %s\n", flat.c_str());
    }
    std::printf(
        "RESULT bench=deep n=%ld mode=%s crashed=%d rc=%d build_s=%s backward_s=%s "
        "free_s=%s peak_rss_mb=%s graph_bytes_per_op=%s wall_s=%.2f\n",
        n, mode.c_str(), p.returncode != 0 ? 1 : 0, p.returncode, field("build_s").c_str(),
        field("backward_s").c_str(), field("free_s").c_str(), field("peak_rss_mb").c_str(),
        field("graph_bytes_per_op").c_str(), wall);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3) return child(std::atol(argv[1]), argv[2]);
  return parent();
}
