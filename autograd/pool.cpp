// Per-thread small-object pool (see detail/pool.hpp).
#include "autograd/detail/pool.hpp"

#include <sys/mman.h>

#include <cstdlib>
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

struct ThreadPool {
  FreeBlock* free[kClasses] = {};
  char* bump = nullptr;
  char* end = nullptr;

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

ThreadPool& pool() {
  thread_local ThreadPool p;
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

struct BufferCache {
  std::unordered_map<std::size_t, std::vector<void*>> free;
  std::size_t cached = 0;
  ~BufferCache() {
    for (auto& [size, list] : free)
      for (void* p : list) std::free(p);
  }
};

BufferCache& buffers() {
  thread_local BufferCache c;
  return c;
}
}  // namespace

void* buffer_allocate(std::size_t bytes) {
  const std::size_t size = buffer_class(bytes);
  if (size <= kLargestCached) {
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
  BufferCache& c = buffers();
  if (size > kLargestCached || c.cached + size > kCacheCapBytes) {
    std::free(p);
    return;
  }
  c.free[size].push_back(p);
  c.cached += size;
}

void* pool_allocate(std::size_t bytes) {
  if (bytes == 0 || bytes > kPoolMaxBytes) return ::operator new(bytes ? bytes : 1);
  return pool().allocate((bytes - 1) / kClass);
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
  b->next = tp.free[c];
  tp.free[c] = b;
}

}  // namespace xg
