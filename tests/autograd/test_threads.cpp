// Threads: a parameter shared by graphs in several threads, the global generator, memory freed by
// another thread than the one that allocated it, and the memory pool's limits.
#include <doctest/doctest.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/detail/pool.hpp"

using namespace xg;

namespace {
/// Resident set size of this process in bytes (/proc/self/statm).
double rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

#ifdef __SANITIZE_ADDRESS__
constexpr double kRssLimit = 30e6 + 300e6;  // AddressSanitizer keeps 256 MB of freed memory
#else
constexpr double kRssLimit = 30e6;
#endif

/// Runs f(thread index) on two threads at once.
template <typename F>
void on_two_threads(F f) {
  std::thread a([&] { f(0); }), b([&] { f(1); });
  a.join();
  b.join();
}
}  // namespace

TEST_CASE("two threads record graphs on one shared parameter (forward only)") {
  Tensor p = tensor({1.0, 2.0, 3.0}).requires_grad_();
  std::vector<double> sums(2);
  on_two_threads([&](int t) {
    for (int i = 0; i < 20000; ++i) sums[t] = sum(p * 2.0).item<double>();
  });
  CHECK(sums[0] == 12.0);
  CHECK(sums[1] == 12.0);
  CHECK_FALSE(p.grad().defined());
}

TEST_CASE("two threads backpropagate into one shared parameter without losing an update") {
  Tensor p = tensor({1.0, -1.0}).requires_grad_();
  on_two_threads([&](int) {
    for (int i = 0; i < 20000; ++i) sum(p * 2.0).backward();
  });
  REQUIRE(p.grad().defined());
  CHECK(p.grad().to_vector<double>() == std::vector<double>{80000.0, 80000.0});
}

TEST_CASE("threads share parameters in a deeper graph (MLP) and in xg::grad") {
  manual_seed(3);
  Tensor w = randn({4, 3}, Dtype::float64).requires_grad_();
  Tensor x = randn({5, 3}, Dtype::float64);
  auto loss = [&] { return tanh(linear(x, w)).pow(2.0).sum(); };
  const std::vector<double> once = grad({loss()}, {w})[0].to_vector<double>();
  std::vector<std::vector<double>> seen(2);
  on_two_threads([&](int t) {
    for (int i = 0; i < 300; ++i) {
      loss().backward();
      seen[t] = grad({loss()}, {w})[0].to_vector<double>();
    }
  });
  const std::vector<double> total = w.grad().to_vector<double>();
  for (std::size_t k = 0; k < once.size(); ++k) {
    CHECK(seen[0][k] == once[k]);
    CHECK(seen[1][k] == once[k]);
    CHECK(total[k] == doctest::Approx(600 * once[k]).epsilon(1e-12));
  }
}

TEST_CASE("create_graph accumulation into a shared leaf keeps every term and its history") {
  Tensor p = tensor({3.0}, Shape{}, Dtype::float64).requires_grad_();
  on_two_threads([&](int) {
    for (int i = 0; i < 100; ++i) (p * p).backward(Tensor(), true, true);  // + 2p each
  });
  Tensor g = p.grad();
  REQUIRE(g.requires_grad());
  CHECK(g.item<double>() == 200 * 6.0);
  CHECK(grad({g}, {p})[0].item<double>() == 200 * 2.0);  // d(400 p)/dp
  p.set_grad(Tensor());  // p.grad()'s graph refers back to p (a cycle, as in PyTorch)
}

TEST_CASE("randn from two threads at once draws whole tensors from one stream") {
  const int kDraws = 200, kSize = 4096;
  manual_seed(42);
  std::map<double, std::vector<float>> expected;  // first value -> the tensor's values
  for (int i = 0; i < 2 * kDraws; ++i) {
    std::vector<float> v = randn({kSize}).to_vector<float>();
    expected[v[0]] = v;
  }
  REQUIRE(expected.size() == 2 * kDraws);
  manual_seed(42);
  std::vector<std::vector<std::vector<float>>> drawn(2);
  on_two_threads([&](int t) {
    for (int i = 0; i < kDraws; ++i) drawn[t].push_back(randn({kSize}).to_vector<float>());
  });
  int matched = 0;
  for (const auto& per_thread : drawn)
    for (const std::vector<float>& v : per_thread) {
      auto it = expected.find(v[0]);
      if (it != expected.end() && it->second == v) {
        ++matched;
        expected.erase(it);  // each tensor of the stream is drawn once
      }
    }
  CHECK(matched == 2 * kDraws);
}

TEST_CASE("a consumer thread freeing a producer's tensors keeps memory bounded") {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::vector<Tensor>> queue;
  bool done = false;
  auto produce = [&](int n) {
    for (int i = 0; i < n; ++i) {
      std::vector<Tensor> batch{full({8, 16}, 1.0), full({32, 32}, 2.0)};  // pooled, cached
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return queue.size() < 16; });
      queue.push_back(std::move(batch));
      cv.notify_all();
    }
  };
  double consumed = 0;
  std::thread consumer([&] {
    for (;;) {
      std::vector<Tensor> batch;
      {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return !queue.empty() || done; });
        if (queue.empty()) return;
        batch = std::move(queue.front());
        queue.pop_front();
        cv.notify_all();
      }
      consumed += batch[1].to_vector<double>()[0];
    }  // the batch is freed here, on the consumer thread
  });
  std::thread producer([&] {
    produce(2000);  // warm-up
    const double before = rss_bytes();
    produce(60000);
    const double growth = rss_bytes() - before;
    MESSAGE("RSS growth over 60000 batches: ", growth / 1e6, " MB");
    // With XGRAD_POOL=OFF the standard allocator (and a sanitizer's quarantine) owns the memory.
    if (memory_pool_enabled()) CHECK(growth < kRssLimit);
  });
  producer.join();
  {
    std::lock_guard<std::mutex> lock(m);
    done = true;
    cv.notify_all();
  }
  consumer.join();
  CHECK(consumed == 2.0 * 62000);
}

TEST_CASE("buffers too large to hold fail with std::bad_alloc instead of hanging") {
  CHECK_THROWS_AS(buffer_allocate(SIZE_MAX), std::bad_alloc);
  CHECK_THROWS_AS(buffer_allocate(SIZE_MAX / 2 + 1), std::bad_alloc);
  CHECK_THROWS_AS(buffer_allocate(std::size_t(1) << 62), std::bad_alloc);
  void* p = buffer_allocate((std::size_t(64) << 20) + 1);  // past the cached sizes
  REQUIRE(p != nullptr);
  static_cast<char*>(p)[0] = 1;
  buffer_deallocate(p, (std::size_t(64) << 20) + 1);
}

TEST_CASE("release_cached_memory returns a freed buffer to the system") {
  std::thread([] {                      // a fresh thread: its cache holds only what this test frees
    { Tensor big = zeros({1 << 20}); }  // 4 MiB, freed into this thread's cache
    if (memory_pool_enabled()) CHECK(cached_memory_bytes() >= (std::size_t(4) << 20));
    release_cached_memory();
    CHECK(cached_memory_bytes() == 0);
    Tensor again = zeros({1 << 20});  // allocating still works
    CHECK(again.sum().item<double>() == 0.0);
  })
      .join();
}

TEST_CASE("tensor data is 64-byte aligned, so SIMD math gives the same bits wherever it runs") {
  std::vector<Tensor> keep;
  for (std::size_t n : {1, 3, 5, 16, 17, 100, 127, 128, 129, 1000, 5000}) {
    keep.push_back(zeros({n % 7 + 1}));  // interleave other sizes
    Tensor t = randn({n}, Dtype::float64);
    CHECK(reinterpret_cast<std::uintptr_t>(t.data_ptr<double>()) % 64 == 0);
    Tensor f = randn({n});
    CHECK(reinterpret_cast<std::uintptr_t>(f.data_ptr<float>()) % 64 == 0);
    const std::vector<double> a = tanh(exp(t)).to_vector<double>();
    keep.push_back(ones({n % 5 + 2}));
    CHECK(tanh(exp(t.clone())).to_vector<double>() == a);
  }
}
