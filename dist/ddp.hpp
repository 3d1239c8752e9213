#pragma once
// DistributedDataParallel (PyTorch's name): data-parallel training of one model on every rank.
// Each rank runs forward and backward on its own shard of the batch; during backward the
// gradients are averaged over the ranks in buckets, each bucket's non-blocking allreduce started
// as soon as all its gradients are ready, so communication overlaps the rest of backward. After
// backward every rank holds the same mean gradient, so N ranks with batch B and SGD take the step
// one process takes with batch N*B.
//
//   xg::dist::Environment env(argc, argv);
//   auto model = std::make_shared<xg::nn::MLP>(...);
//   xg::dist::DistributedDataParallel ddp(model);       // same model on every rank, checked
//   xg::optim::SGD opt(ddp.parameters(), ...);
//   for (...) {                                          // each rank: its shard of the batch
//     opt.zero_grad();
//     xg::nn::cross_entropy(ddp(x_shard), y_shard).backward();   // gradients: mean over ranks
//     opt.step();
//   }
//   if (xg::dist::rank() == 0) xg::nn::save(*ddp.module(), "model.safetensors");
//
// Construction is a collective (every rank constructs its wrapper at the same point). Parameters
// that got no gradient in a backward pass count as zero in the average (see the class comment).
#include <memory>
#include <vector>

#include "autograd/arg.hpp"
#include "nn/module.hpp"

namespace xg::dist {

/// Options of DistributedDataParallel (chained setters, libtorch style).
struct DistributedDataParallelOptions {
  /// Gradient bucket size in MiB (PyTorch's default 25): parameters, in reverse registration
  /// order, fill a bucket until it holds at least this many bytes; one allreduce per bucket.
  XG_ARG(double, bucket_cap_mb) = 25;
  /// At each forward in training mode, copy rank 0's buffers (BatchNorm's running statistics)
  /// to every rank first (PyTorch's default), so all replicas evaluate alike.
  XG_ARG(bool, broadcast_buffers) = true;
};

/// Wraps a model for data-parallel training over all ranks of the job (PyTorch's
/// torch.nn.parallel.DistributedDataParallel).
///
/// Construction (collective): every rank's model must have the same parameters and buffers
/// (names, shapes, dtypes, in order) and the same options, else every rank throws naming the
/// first difference and the ranks ("DistributedDataParallel: rank 1's parameter fc1.weight is
/// [64, 784], rank 0's is [128, 784]"). Then rank 0's parameters and buffers are copied to all
/// ranks, so replicas start equal whatever their seeds.
///
/// Backward: a hook on each parameter marks its gradient ready; when a bucket is complete its
/// gradients are copied into the bucket's flat buffer and an asynchronous allreduce (mean) starts
/// (buckets start in the same order on every rank). At the end of the pass all buckets are
/// waited for and the means are copied back into each parameter's grad(). Gradients accumulate
/// as in PyTorch: a second backward adds its local gradient to the (already averaged) grad() and
/// averages again, so grad() is the sum over passes of the mean over ranks.
///
/// Parameters without a gradient in a pass (not used by forward on this rank) count as zero: the
/// mean is over all ranks, as a single process with the whole batch would compute; such a
/// parameter's grad() is defined (zeros if no rank used it; PyTorch with
/// find_unused_parameters=false raises an error instead). Every rank must run backward from a
/// loss that reaches at least one parameter; a rank whose backward reaches none starts no
/// allreduce and the others wait for it.
class DistributedDataParallel : public nn::Module {
 public:
  /// Wraps `module` (registered as the child "module", so state_dict keys read "module.fc1.weight"
  /// as in PyTorch). Collective: checks that all ranks agree, then broadcasts from rank 0.
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                   const DistributedDataParallelOptions& options = {});
  ~DistributedDataParallel() override;

  /// The wrapped module's forward; in training mode with broadcast_buffers, rank 0's buffers are
  /// broadcast first (a collective: every rank calls forward the same number of times).
  Tensor forward(const Tensor& input) override;
  /// The wrapped model (save and load this one).
  const std::shared_ptr<nn::Module>& module() const { return module_; }
  const DistributedDataParallelOptions& options() const { return options_; }
  /// Number of gradient buckets and, per bucket, the indices into parameters() it holds (in
  /// the order they sit in the flat buffer: reverse registration order).
  std::vector<std::vector<std::size_t>> bucket_assignment() const;

  /// RAII from no_sync(): while alive, backward accumulates gradients locally without any
  /// communication; the first backward after it averages the accumulated gradients.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp);
    ~NoSyncGuard();
    NoSyncGuard(NoSyncGuard&& other) noexcept;
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(NoSyncGuard&&) = delete;

   private:
    DistributedDataParallel* ddp_;
    bool previous_;
  };
  /// Turns gradient synchronization off until the guard is destroyed (PyTorch's no_sync()).
  NoSyncGuard no_sync();

  std::string extra_repr() const override;

  struct Reducer;  // the buckets and the per-pass state (dist/ddp.cpp)

 private:
  std::shared_ptr<nn::Module> module_;
  DistributedDataParallelOptions options_;
  std::shared_ptr<Reducer> reducer_;  // hooks hold a weak_ptr: they do nothing once it is gone
};

}  // namespace xg::dist
