#pragma once
// Learning-rate schedulers acting on an optimizer's param-group lr, with the values of
// torch.optim.lr_scheduler (PyTorch 1.13). Call scheduler.step() once per epoch, after
// optimizer.step(). Constructing a scheduler applies its epoch-0 lr (as PyTorch does).
#include <cstdint>
#include <memory>
#include <vector>

#include "optim/optimizer.hpp"

namespace xg::optim {

/// Base of the epoch-based schedulers: keeps base_lrs (each group's initial lr) and the epoch.
/// A scheduler holds a reference to its optimizer, which must outlive it.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Advances one epoch and writes the new lr into every param group.
  virtual void step();
  /// Jumps to `epoch` using the closed form where there is one (PyTorch's step(epoch)).
  void step(int64_t epoch);
  /// The lr of every group after the last step, one per group.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  /// The current epoch (0 right after construction).
  int64_t last_epoch() const { return last_epoch_; }
  /// Each group's lr when the first scheduler was attached.
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  /// The optimizer whose learning rates this scheduler sets.
  Optimizer& optimizer() { return optimizer_; }

 protected:
  /// Records each group's initial lr (once, shared by all schedulers of the optimizer).
  explicit LRScheduler(Optimizer& optimizer);
  /// The epoch-0 step; every concrete constructor calls it last.
  void initial_step();
  /// The lrs at last_epoch from the current ones (PyTorch's chainable get_lr()).
  virtual std::vector<double> get_lr() = 0;
  /// The lrs at last_epoch from base_lrs (PyTorch's _get_closed_form_lr()).
  virtual std::vector<double> closed_form_lr() { return get_lr(); }
  /// The current lr of every group.
  std::vector<double> group_lrs() const;

  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> last_lr_;

 private:
  void apply(const std::vector<double>& lrs);
  friend class SequentialLR;
};

/// lr *= gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  /// Decays by `gamma` every `step_size` (> 0) epochs.
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr *= gamma at each milestone epoch (a milestone listed twice decays twice).
class MultiStepLR : public LRScheduler {
 public:
  /// Decays by `gamma` when the epoch reaches each of `milestones`.
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;

 private:
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

/// lr *= gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  /// Decays by `gamma` every epoch.
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;

 private:
  double gamma_;
};

/// lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2 (recursive form, as PyTorch).
class CosineAnnealingLR : public LRScheduler {
 public:
  /// Anneals from base_lr to `eta_min` over `T_max` (> 0) epochs, then back up (cosine period 2
  /// T_max).
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;

 private:
  int64_t T_max_;
  double eta_min_;
};

/// lr = base_lr * factor, factor going linearly from start_factor to end_factor in total_iters
/// epochs and then staying (a warmup when start_factor < end_factor).
class LinearLR : public LRScheduler {
 public:
  /// Factors in [0, 1] (start_factor > 0); total_iters > 0.
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override;

 private:
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

/// Runs schedulers one after the other: schedulers[i] from milestones[i-1] on (each restarting
/// from its epoch 0), e.g. a LinearLR warmup followed by a CosineAnnealingLR decay.
class SequentialLR : public LRScheduler {
 public:
  /// `schedulers` (all on `optimizer`) and milestones.size() == schedulers.size() - 1.
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  using LRScheduler::step;
  /// Advances one epoch with the scheduler whose turn it is.
  void step() override;

 protected:
  std::vector<double> get_lr() override { return last_lr_; }

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

/// Whether ReduceLROnPlateau's metric should go down (a loss) or up (an accuracy).
enum class PlateauMode { min, max };
/// Whether an improvement is measured relative to the best value or in absolute terms.
enum class ThresholdMode { rel, abs };

/// Options of ReduceLROnPlateau, with PyTorch's defaults.
struct ReduceLROnPlateauOptions {
  /// min: the metric should decrease; max: increase.
  XG_ARG(PlateauMode, mode) = PlateauMode::min;
  /// lr *= factor on a plateau (< 1).
  XG_ARG(double, factor) = 0.1;
  /// Epochs without improvement tolerated before reducing.
  XG_ARG(int64_t, patience) = 10;
  /// Smallest change that counts as an improvement.
  XG_ARG(double, threshold) = 1e-4;
  /// rel: better than best * (1 -/+ threshold); abs: better than best -/+ threshold.
  XG_ARG(ThresholdMode, threshold_mode) = ThresholdMode::rel;
  /// Epochs to wait after a reduction before counting bad epochs again.
  XG_ARG(int64_t, cooldown) = 0;
  /// Lower bound of every group's lr.
  XG_ARG(double, min_lr) = 0.0;
  /// Reductions smaller than eps are skipped.
  XG_ARG(double, eps) = 1e-8;
};

/// Reduces every group's lr by `factor` when a metric stops improving for `patience` epochs.
class ReduceLROnPlateau {
 public:
  /// Watches the metric passed to step() and sets the lrs of `optimizer`.
  explicit ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {});
  /// Records this epoch's metric (e.g. the validation loss) and reduces the lrs on a plateau.
  void step(double metric);
  /// The lr of every group after the last step.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  /// The best metric so far (+inf / -inf before the first step).
  double best() const { return best_; }
  /// Consecutive epochs without improvement.
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  /// Epochs seen.
  int64_t last_epoch() const { return last_epoch_; }

 private:
  bool is_better(double a, double best) const;

  Optimizer& optimizer_;
  ReduceLROnPlateauOptions options_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t last_epoch_ = 0;
  std::vector<double> last_lr_;
};

}  // namespace xg::optim
