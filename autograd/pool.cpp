// Per-thread small-object pool (see detail/pool.hpp).
#include "autograd/detail/pool.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

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
}  // namespace

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
