#pragma once
// Internal: memory for the small objects a recorded graph is made of (tensor handles, storages,
// nodes, tiny data buffers). Each thread keeps free lists by 16-byte size class, refilled from
// 2 MiB slabs that the kernel may back with transparent huge pages. A dynamic graph allocates
// several such objects per op; glibc's malloc slow path and one page fault per 4 KiB made up
// about two thirds of the per-op cost before (bench/overhead, perf). Freed memory is kept for
// reuse by later graphs rather than returned to the system (xg::release_cached_memory() returns
// cached buffers); memory freed by another thread goes back to the thread that allocated it; an
// exiting thread's pool is adopted by the next new thread. XGRAD_POOL=0 (CMake XGRAD_POOL=OFF)
// routes everything to the standard allocator.
#include <cstddef>

namespace xg {

/// Largest request served by the pool; larger ones go to malloc.
constexpr std::size_t kPoolMaxBytes = 512;
void* pool_allocate(std::size_t bytes);
void pool_deallocate(void* p, std::size_t bytes);

/// Data buffers larger than kPoolMaxBytes: 64-byte aligned, and kept per thread by size class
/// after they are freed (up to a cap) so that the next graph reuses them instead of faulting
/// fresh pages in (glibc returns a freed heap top to the system, and a dynamic graph frees and
/// reallocates the same sizes every step). Sizes above 64 MiB go straight to the system; a size
/// that cannot be allocated throws std::bad_alloc.
void* buffer_allocate(std::size_t bytes);
void buffer_deallocate(void* p, std::size_t bytes);

/// std allocator over the pool, for std::allocate_shared and containers of graph objects.
template <typename T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <typename U>
  PoolAllocator(const PoolAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) { pool_deallocate(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const PoolAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const PoolAllocator<U>&) const {
    return false;
  }
};

}  // namespace xg
