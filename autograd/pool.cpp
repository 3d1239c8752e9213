// Per-thread small-object pool (see detail/pool.hpp).
#include "autograd/detail/pool.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace xg {

namespace {
constexpr std::size_t kClass = 16;  // size-class granularity
constexpr std::size_t kClasses = kPoolMaxBytes / kClass;
constexpr std::size_t kSlabBytes = std::size_t(2) << 20;  // one huge page

struct FreeBlock {
  FreeBlock* next;
};

/// Free lists and the unused rest of the current slab. Trivially destructible on purpose:
/// it must stay usable while other thread-locals and statics are destroyed.
struct ThreadPool {
  FreeBlock* free[kClasses];
  char* bump;
  char* end;
  bool started;  // adopted an orphan (or found none) and registered its reaper
  bool dead;     // the thread is exiting: its lists went to the orphans

  void* allocate(std::size_t c) {
    if (FreeBlock* b = free[c]) {
      free[c] = b->next;
      return b;
    }
    const std::size_t bytes = (c + 1) * kClass;
    if (bump == nullptr || static_cast<std::size_t>(end - bump) < bytes) refill();
    void* p = bump;
    bump += bytes;
    return p;
  }
  void refill() {
    void* slab = std::aligned_alloc(kSlabBytes, kSlabBytes);
    if (!slab) throw std::bad_alloc();
    madvise(slab, kSlabBytes, MADV_HUGEPAGE);  // a hint; fine if the kernel declines
    bump = static_cast<char*>(slab);
    end = bump + kSlabBytes;
  }
};

thread_local ThreadPool local_pool{};

// Pools of exited threads, adopted by new threads, so that short-lived threads (data loaders)
// do not each strand a slab. Never destroyed: used until the very end of the process.
std::mutex& orphan_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::vector<ThreadPool>& orphans() {
  static auto* v = new std::vector<ThreadPool>;
  return *v;
}

/// Hands the thread's pool to the orphans when the thread exits.
struct Reaper {
  ~Reaper() {
    std::lock_guard<std::mutex> lock(orphan_mutex());
    orphans().push_back(local_pool);
    local_pool = ThreadPool{};
    local_pool.started = local_pool.dead = true;
  }
};
thread_local Reaper reaper;

ThreadPool& pool() {
  ThreadPool& p = local_pool;
  if (!p.started) {  // first use on this thread
    p.started = true;
    (void)&reaper;  // constructs it, so its destructor runs at thread exit
    std::lock_guard<std::mutex> lock(orphan_mutex());
    if (!orphans().empty()) {
      p = orphans().back();
      orphans().pop_back();
      p.started = true;
      p.dead = false;
    }
  }
  return p;
}

constexpr std::size_t kCacheCapBytes = std::size_t(512) << 20;  // per thread
constexpr std::size_t kLargestCached = std::size_t(64) << 20;

/// Size classes with four steps per power of two (at most 25% rounding), multiples of 64.
std::size_t buffer_class(std::size_t n) {
  std::size_t p = 1024;
  while (p * 2 <= n) p *= 2;
  const std::size_t step = p / 4;
  return (n + step - 1) / step * step;
}

thread_local bool buffers_gone = false;  // trivially destructible: readable to the very end

struct BufferCache {
  std::unordered_map<std::size_t, std::vector<void*>> free;
  std::size_t cached = 0;
  ~BufferCache() {  // thread exit: release the cache; later frees go straight to the system
    for (auto& [size, list] : free)
      for (void* p : list) std::free(p);
    buffers_gone = true;
  }
};

BufferCache& buffers() {
  thread_local BufferCache c;
  return c;
}
}  // namespace

void* buffer_allocate(std::size_t bytes) {
  const std::size_t size = buffer_class(bytes);
  if (size <= kLargestCached && !buffers_gone) {
    BufferCache& c = buffers();
    auto it = c.free.find(size);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= size;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) throw std::bad_alloc();
  return p;
}

void buffer_deallocate(void* p, std::size_t bytes) {
  if (!p) return;
  const std::size_t size = buffer_class(bytes);
  if (size > kLargestCached || buffers_gone) {
    std::free(p);
    return;
  }
  BufferCache& c = buffers();
  if (c.cached + size > kCacheCapBytes) {
    std::free(p);
    return;
  }
  c.free[size].push_back(p);
  c.cached += size;
}

void* pool_allocate(std::size_t bytes) {
  if (bytes == 0 || bytes > kPoolMaxBytes) return ::operator new(bytes ? bytes : 1);
  ThreadPool& tp = pool();
  const std::size_t c = (bytes - 1) / kClass;
  if (tp.dead) return ::operator new((c + 1) * kClass);  // joins a free list when released
  return tp.allocate(c);
}

void pool_deallocate(void* p, std::size_t bytes) {
  if (!p) return;
  if (bytes == 0 || bytes > kPoolMaxBytes) {
    ::operator delete(p);
    return;
  }
  ThreadPool& tp = pool();
  const std::size_t c = (bytes - 1) / kClass;
  auto* b = static_cast<FreeBlock*>(p);
  if (tp.dead) {  // exiting thread: give the block to an orphaned pool
    std::lock_guard<std::mutex> lock(orphan_mutex());
    if (orphans().empty()) orphans().push_back(ThreadPool{});
    ThreadPool& o = orphans().back();
    b->next = o.free[c];
    o.free[c] = b;
    return;
  }
  b->next = tp.free[c];
  tp.free[c] = b;
}

}  // namespace xg
