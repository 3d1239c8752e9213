#pragma once
// Helpers shared by the benchmarks, the C++ twins of ../shared/bench/common.py: clock, median,
// RSS, OpenBLAS threads and the CPU time other processes used during a measurement.
#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace bench {

/// Seconds on a monotonic clock (time.perf_counter).
inline double now() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

/// statistics.median: the middle value, or the mean of the two middle values.
inline double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  const std::size_t n = xs.size();
  if (n == 0) return 0.0;
  return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2.0;
}

inline double min_of(const std::vector<double>& xs) {
  return xs.empty() ? 0.0 : *std::min_element(xs.begin(), xs.end());
}

/// Peak resident set of this process in MiB (ru_maxrss is in KiB on Linux).
inline double peak_rss_mb() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_maxrss) / 1024.0;
}

/// Current resident set of this process in MiB (/proc/self/statm, second field).
inline double cur_rss_mb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0.0;
  unsigned long size = 0, resident = 0;
  if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         (1024.0 * 1024.0);
}

// ---- OpenBLAS (looked up at run time: the process-wide instance xgrad's GEMM uses) ----
using SetThreadsFn = void (*)(int);
using GetThreadsFn = int (*)();
using CoreNameFn = char* (*)();

/// Sets OpenBLAS threads to n; env BENCH_BLAS_THREADS overrides n (as common.set_threads).
inline void set_threads(int n) {
  if (const char* e = std::getenv("BENCH_BLAS_THREADS")) n = std::atoi(e);
  if (auto f = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    f(n);
}

/// "openblas_core=Haswell openblas_threads=2", or "openblas=unavailable".
inline std::string blas_info() {
  auto core = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  auto threads = reinterpret_cast<GetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (!core || !threads) return "openblas=unavailable";
  return std::string("openblas_core=") + core() + " openblas_threads=" + std::to_string(threads());
}

inline std::string env_info() {
  auto get = [](const char* k) {
    const char* v = std::getenv(k);
    return std::string(v ? v : "unset");
  };
  return "OPENBLAS_CORETYPE=" + get("OPENBLAS_CORETYPE") +
         " OMP_NUM_THREADS=" + get("OMP_NUM_THREADS") +
         " OPENBLAS_NUM_THREADS=" + get("OPENBLAS_NUM_THREADS");
}

/// CPU-seconds used by OTHER processes between start() and stop(): machine busy time from
/// /proc/stat minus this process's own user+sys (children included), as common.Foreign.
class Foreign {
 public:
  Foreign& start() {
    busy0_ = busy();
    own0_ = own();
    return *this;
  }
  double stop() const { return std::max(0.0, (busy() - busy0_) - (own() - own0_)); }

 private:
  static double busy() {
    FILE* f = std::fopen("/proc/stat", "r");
    if (!f) return 0.0;
    unsigned long long v[7] = {};
    const int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                                &v[3], &v[4], &v[5], &v[6]);
    std::fclose(f);
    if (got != 7) return 0.0;
    // user + nice + system + irq + softirq
    return static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6]) /
           static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  static double own() {
    auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
    rusage s{}, c{};
    getrusage(RUSAGE_SELF, &s);
    getrusage(RUSAGE_CHILDREN, &c);
    return secs(s.ru_utime) + secs(s.ru_stime) + secs(c.ru_utime) + secs(c.ru_stime);
  }
  double busy0_ = 0.0, own0_ = 0.0;
};

}  // namespace bench
