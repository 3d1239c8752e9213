#pragma once
// The memory xgrad keeps for reuse: each thread caches freed tensor buffers (and small graph
// objects) so that the next training step does not fault fresh pages in. Build with
// -DXGRAD_POOL=OFF to use the standard allocator for everything instead.
#include <cstddef>

namespace xg {

/// Returns to the system the freed tensor buffers the calling thread keeps for reuse, and those
/// freed for threads that have exited. Small graph objects stay pooled.
void release_cached_memory();
/// Bytes of freed tensor buffers the calling thread keeps for reuse.
std::size_t cached_memory_bytes();
/// False when built with XGRAD_POOL=OFF (every allocation goes to the standard allocator).
bool memory_pool_enabled();

}  // namespace xg
