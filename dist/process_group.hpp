#pragma once
// Processes that train or evaluate together, on Open MPI: init/finalize, rank, world size and
// the collectives on tensors (PyTorch's torch.distributed names). Every process of a job calls
// the same collectives in the same order; each call returns when this rank's part is done.
//
//   int main(int argc, char** argv) {
//     xg::dist::Environment env(argc, argv);        // MPI_Init ... MPI_Finalize
//     xg::Tensor g = ...;                           // float32 or float64, same shape on every rank
//     xg::dist::all_reduce(g, xg::dist::ReduceOp::Mean);
//   }
//
// Run with `mpirun -np N ./prog` (as root: --allow-run-as-root; more ranks than cores:
// --oversubscribe). Without mpirun a program is a world of one rank.
// No MPI header here: mpi.h stays in dist/*.cpp.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"

namespace xg::dist {

/// Starts MPI (MPI_Init_thread; argc/argv may be null). Throws if MPI was already finalized.
/// Calling it when MPI is already initialized does nothing.
void init(int* argc = nullptr, char*** argv = nullptr);
/// Ends MPI (MPI_Finalize) if this library started it; no-op otherwise or when called twice.
void finalize();
/// True between init() and finalize() (or when MPI was started by someone else).
bool is_initialized();

/// RAII: init() in the constructor, finalize() in the destructor.
class Environment {
 public:
  Environment();
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
};

/// This process's rank in 0 .. world_size() - 1 (0 when MPI is not initialized).
int rank();
/// Number of processes in the job (1 when MPI is not initialized).
int world_size();
/// Returns once every rank has called barrier().
void barrier();

/// How all_reduce combines the ranks' values element by element.
enum class ReduceOp { Sum, Mean, Max };

/// Copies `tensor`'s values on rank `src` into `tensor` on every rank (in place; same shape and
/// dtype everywhere, float32, float64 or int64). Throws naming the op, rank and shapes on a
/// mismatch it can see (src out of range, empty job).
void broadcast(Tensor& tensor, int src = 0);
/// Replaces `tensor` on every rank by the element-wise Sum / Mean / Max over all ranks (in
/// place; same shape and dtype everywhere; float32 or float64, int64 for Sum and Max).
void all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::Sum);
/// Every rank's `tensor`, in rank order (result[r] is rank r's; all the same shape and dtype).
std::vector<Tensor> all_gather(const Tensor& tensor);

/// A collective started without waiting (all_reduce_async): wait() blocks until it is done and
/// its result is in the tensor; is_completed() polls (and lets MPI make progress).
class Work {
 public:
  virtual ~Work() = default;
  /// Blocks until the collective is done. Throws (naming the op) if MPI reported an error.
  virtual void wait() = 0;
  /// True when done (then wait() returns at once).
  virtual bool is_completed() = 0;
};

/// all_reduce without waiting (MPI_Iallreduce): `tensor` must stay alive and untouched until
/// wait(). Ranks must start their async collectives in the same order.
std::shared_ptr<Work> all_reduce_async(Tensor& tensor, ReduceOp op = ReduceOp::Sum);

}  // namespace xg::dist
