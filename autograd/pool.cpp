// Per-thread small-object pool and buffer cache (see detail/pool.hpp).
#include "autograd/detail/pool.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "autograd/memory.hpp"

#ifndef XGRAD_POOL
#define XGRAD_POOL 1
#endif

namespace xg {

namespace {
/// Bytes for `bytes` behind a 64-byte header, rounded up to 64 (aligned_alloc wants a multiple of
/// the alignment); std::bad_alloc past 2^48 bytes (more than x86-64 can address; sanitizers abort
/// on such requests instead of failing them).
constexpr std::size_t kHeader = 64;
constexpr std::size_t kMaxBytes = std::size_t(1) << 48;
std::size_t with_header(std::size_t bytes, std::size_t header) {
  if (bytes > kMaxBytes) throw std::bad_alloc();
  return (bytes + header + 63) / 64 * 64;
}
}  // namespace

#if XGRAD_POOL

namespace {
constexpr std::size_t kClass = 16;  // size-class granularity
constexpr std::size_t kClasses = kPoolMaxBytes / kClass;
constexpr std::size_t kSlabBytes = std::size_t(2) << 20;  // one huge page, aligned to its size
constexpr std::size_t kCacheCapBytes = std::size_t(512) << 20;  // cached buffers per thread
constexpr std::size_t kLargestCached = std::size_t(64) << 20;

struct FreeBlock {
  FreeBlock* next;
};
struct ThreadHeap;

/// The first bytes of every slab: the heap whose blocks it holds (found by masking a block's
/// address), so that a block freed by another thread goes back to its owner.
struct SlabHeader {
  ThreadHeap* owner;
};

/// What precedes every data buffer (kHeader bytes, so the data stays 64-byte aligned).
struct BufferHeader {
  ThreadHeap* owner;   // nullptr: not cached (too large, or made by an exiting thread)
  std::size_t size;    // its size class (bytes after the header)
  BufferHeader* next;  // in a remote-free list
};
static_assert(sizeof(BufferHeader) <= kHeader, "buffer header too large");

void* buffer_data(BufferHeader* h) { return reinterpret_cast<char*>(h) + kHeader; }
BufferHeader* buffer_header(void* p) {
  return reinterpret_cast<BufferHeader*>(static_cast<char*>(p) - kHeader);
}

/// A new buffer of `size` bytes from the system, owned by `owner`.
void* system_buffer(std::size_t size, ThreadHeap* owner) {
  void* raw = std::aligned_alloc(64, with_header(size, kHeader));
  if (!raw) throw std::bad_alloc();
  auto* h = static_cast<BufferHeader*>(raw);
  h->owner = owner;
  h->size = size;
  h->next = nullptr;
  return buffer_data(h);
}

/// Pushes onto a lock-free list whose consumer always takes the whole list (so no ABA).
template <typename T>
void push_remote(std::atomic<T*>& head, T* item) {
  item->next = head.load(std::memory_order_relaxed);
  while (!head.compare_exchange_weak(item->next, item, std::memory_order_release,
                                     std::memory_order_relaxed)) {
  }
}

/// One thread's memory: free lists by size class refilled from slabs, and freed data buffers by
/// size class. Heap-allocated and never destroyed, so that blocks and buffers can always find it:
/// a block freed by another thread is pushed onto its `remote` lists, which the owner takes back
/// when it allocates (a producer thread whose tensors a consumer thread frees reuses them). An
/// exiting thread's heap is adopted by the next new thread.
struct ThreadHeap {
  FreeBlock* free[kClasses] = {};
  char* bump = nullptr;
  char* end = nullptr;
  std::atomic<FreeBlock*> remote[kClasses] = {};
  std::unordered_map<std::size_t, std::vector<void*>> buffers;  // size class -> free buffers
  std::size_t cached = 0;                                       // bytes in `buffers`
  std::atomic<BufferHeader*> remote_buffers{nullptr};
  std::atomic<bool> orphaned{false};  // its thread exited and no thread adopted it yet

  void* allocate(std::size_t c) {
    if (FreeBlock* b = free[c]) {
      free[c] = b->next;
      return b;
    }
    if (remote[c].load(std::memory_order_relaxed)) {
      FreeBlock* b = remote[c].exchange(nullptr, std::memory_order_acquire);
      free[c] = b->next;
      return b;
    }
    const std::size_t bytes = (c + 1) * kClass;
    // Classes that are multiples of 64 bytes (tensor data, see Storage) start 64-byte aligned.
    const std::size_t skew =
        bytes % 64 == 0 && bump ? (64 - reinterpret_cast<std::uintptr_t>(bump) % 64) % 64 : 0;
    if (bump == nullptr || static_cast<std::size_t>(end - bump) < bytes + skew)
      refill();
    else
      bump += skew;
    void* p = bump;
    bump += bytes;
    return p;
  }
  void refill() {
    void* slab = std::aligned_alloc(kSlabBytes, kSlabBytes);
    if (!slab) throw std::bad_alloc();
    madvise(slab, kSlabBytes, MADV_HUGEPAGE);  // a hint; fine if the kernel declines
    static_cast<SlabHeader*>(slab)->owner = this;
    bump = static_cast<char*>(slab) + kHeader;
    end = static_cast<char*>(slab) + kSlabBytes;
  }
  void deallocate_local(void* p, std::size_t c) {
    auto* b = static_cast<FreeBlock*>(p);
    b->next = free[c];
    free[c] = b;
  }

  /// Keeps a freed buffer for reuse, or returns it to the system past the cap.
  void cache_buffer(BufferHeader* h) {
    if (cached + h->size > kCacheCapBytes) {
      std::free(h);
      return;
    }
    buffers[h->size].push_back(buffer_data(h));
    cached += h->size;
  }
  /// Takes back the buffers other threads freed.
  void drain_remote_buffers(bool keep) {
    if (!remote_buffers.load(std::memory_order_relaxed)) return;
    BufferHeader* h = remote_buffers.exchange(nullptr, std::memory_order_acquire);
    while (h) {
      BufferHeader* next = h->next;
      if (keep)
        cache_buffer(h);
      else
        std::free(h);
      h = next;
    }
  }
  void release_buffers() {
    drain_remote_buffers(false);
    for (auto& [size, list] : buffers)
      for (void* p : list) std::free(buffer_header(p));
    buffers.clear();
    cached = 0;
  }
};

ThreadHeap* slab_owner(void* p) {
  const auto base = reinterpret_cast<uintptr_t>(p) & ~(uintptr_t(kSlabBytes) - 1);
  return reinterpret_cast<SlabHeader*>(base)->owner;
}

// Trivially destructible on purpose: readable while other thread-locals are destroyed.
thread_local ThreadHeap* local_heap = nullptr;
thread_local bool thread_exited = false;

// Heaps of exited threads, adopted by new threads, so that short-lived threads (data loaders)
// do not each strand a slab; and one shared heap for allocations made while a thread exits.
// Never destroyed: used until the very end of the process.
std::mutex& orphan_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::vector<ThreadHeap*>& orphans() {
  static auto* v = new std::vector<ThreadHeap*>;
  return *v;
}
ThreadHeap& exit_heap() {  // used under orphan_mutex()
  static auto* h = new ThreadHeap;
  return *h;
}

/// Hands the thread's heap to the orphans when the thread exits (cached buffers go back to the
/// system; free blocks stay for the adopter).
struct Reaper {
  ~Reaper() {
    ThreadHeap* h = local_heap;
    local_heap = nullptr;
    thread_exited = true;
    if (!h) return;
    h->release_buffers();
    h->orphaned.store(true, std::memory_order_release);
    std::lock_guard<std::mutex> lock(orphan_mutex());
    orphans().push_back(h);
  }
};
thread_local Reaper reaper;

/// This thread's heap (adopting an orphan or making one on first use); nullptr while the thread
/// exits.
ThreadHeap* heap() {
  if (ThreadHeap* h = local_heap) return h;
  if (thread_exited) return nullptr;
  (void)&reaper;  // constructs it, so its destructor runs at thread exit
  ThreadHeap* h = nullptr;
  {
    std::lock_guard<std::mutex> lock(orphan_mutex());
    if (!orphans().empty()) {
      h = orphans().back();
      orphans().pop_back();
    }
  }
  if (!h) h = new ThreadHeap;
  h->orphaned.store(false, std::memory_order_relaxed);
  local_heap = h;
  return h;
}

/// Size classes with four steps per power of two (at most 25% rounding), multiples of 256.
/// Only for sizes up to kLargestCached (larger ones are not cached).
std::size_t buffer_class(std::size_t n) {
  std::size_t p = 1024;
  while (p * 2 <= n) p *= 2;
  const std::size_t step = p / 4;
  return (n + step - 1) / step * step;
}
}  // namespace

void* buffer_allocate(std::size_t bytes) {
  if (bytes > kLargestCached) return system_buffer(bytes, nullptr);
  const std::size_t size = buffer_class(bytes);
  ThreadHeap* h = heap();
  if (!h) return system_buffer(size, nullptr);
  h->drain_remote_buffers(true);
  auto it = h->buffers.find(size);
  if (it != h->buffers.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    h->cached -= size;
    return p;
  }
  return system_buffer(size, h);
}

void buffer_deallocate(void* p, std::size_t) {
  if (!p) return;
  BufferHeader* b = buffer_header(p);
  ThreadHeap* owner = b->owner;
  if (!owner) {
    std::free(b);
  } else if (owner == local_heap) {
    owner->cache_buffer(b);
  } else if (owner->orphaned.load(std::memory_order_acquire)) {
    std::free(b);  // no thread reuses it soon
  } else {
    push_remote(owner->remote_buffers, b);  // the owner reuses it
  }
}

void* pool_allocate(std::size_t bytes) {
  if (bytes == 0 || bytes > kPoolMaxBytes) return ::operator new(bytes ? bytes : 1);
  const std::size_t c = (bytes - 1) / kClass;
  if (ThreadHeap* h = local_heap) return h->allocate(c);
  if (ThreadHeap* h = heap()) return h->allocate(c);
  std::lock_guard<std::mutex> lock(orphan_mutex());  // an exiting thread
  return exit_heap().allocate(c);
}

void pool_deallocate(void* p, std::size_t bytes) {
  if (!p) return;
  if (bytes == 0 || bytes > kPoolMaxBytes) {
    ::operator delete(p);
    return;
  }
  const std::size_t c = (bytes - 1) / kClass;
  ThreadHeap* owner = slab_owner(p);
  if (owner == local_heap)
    owner->deallocate_local(p, c);
  else  // another thread's block (or an exiting thread): back to its owner
    push_remote(owner->remote[c], static_cast<FreeBlock*>(p));
}

void release_cached_memory() {
  if (ThreadHeap* h = local_heap) h->release_buffers();
  std::lock_guard<std::mutex> lock(orphan_mutex());
  for (ThreadHeap* o : orphans()) o->drain_remote_buffers(false);
  exit_heap().drain_remote_buffers(false);
}

std::size_t cached_memory_bytes() {
  ThreadHeap* h = local_heap;
  return h ? h->cached : 0;
}

bool memory_pool_enabled() { return true; }

#else  // XGRAD_POOL=0: the standard allocator for everything

// 64-byte aligned like the pool's tensor-data classes, so SIMD kernels split the same way.
void* pool_allocate(std::size_t bytes) {
  return ::operator new (bytes ? bytes : 1, std::align_val_t{64});
}
void pool_deallocate(void* p, std::size_t) { ::operator delete (p, std::align_val_t{64}); }
void* buffer_allocate(std::size_t bytes) {
  void* p = std::aligned_alloc(64, with_header(bytes, 0));
  if (!p) throw std::bad_alloc();
  return p;
}
void buffer_deallocate(void* p, std::size_t) { std::free(p); }
void release_cached_memory() {}
std::size_t cached_memory_bytes() { return 0; }
bool memory_pool_enabled() { return false; }

#endif

}  // namespace xg
