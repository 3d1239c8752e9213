#pragma once
// Training helpers: fit (the epoch loop with a progress bar and per-epoch metrics) and evaluate.
//
//   auto loss_fn = [](const Tensor& logits, const Tensor& y) {
//     return nn::functional::cross_entropy(logits, y);
//   };
//   auto history = nn::fit(*net, train_loader, opt, loss_fn,
//                          nn::FitOptions().epochs(10).test_loader(test_loader)
//                              .metrics_csv("metrics.csv"));
//   nn::EvalResult r = nn::evaluate(*net, test_loader, loss_fn);   // r.loss, r.accuracy
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"
#include "nn/dataloader.hpp"
#include "nn/module.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/optimizer.hpp"

namespace xg::nn {

/// A loss from the model's output and the batch target, as one value (e.g. a mean).
using LossFn = std::function<Tensor(const Tensor& logits, const Tensor& target)>;

/// The mean loss and accuracy over a loader's examples.
struct EvalResult {
  /// Mean of the per-batch losses weighted by batch size.
  double loss;
  /// Fraction in [0, 1] of examples whose argmax over dim 1 equals the label; NaN when the
  /// targets are not class labels (int64 [B] with output [B, C]).
  double accuracy;
};

/// One epoch's record (a row of the metrics CSV). Values that do not apply are NaN.
struct EpochMetrics {
  /// 1-based epoch number.
  int64_t epoch;
  double train_loss;
  /// Accuracy over the epoch's training batches (as they were computed, in train mode).
  double train_acc;
  /// evaluate() on the test loader after the epoch (NaN without a test loader).
  double test_loss;
  double test_acc;
  /// Learning rate of the first parameter group during the epoch.
  double lr;
  /// Wall-clock seconds of the epoch, evaluation included.
  double seconds;
};

/// Options of fit: epochs, LR schedule, test loader, metrics CSV, progress output.
struct FitOptions {
  /// Number of epochs (> 0; default 1).
  FitOptions& epochs(int64_t v) { return epochs_ = v, *this; }
  int64_t epochs() const { return epochs_; }
  /// Steps `s` once after every epoch (it must belong to the optimizer given to fit).
  FitOptions& scheduler(optim::LRScheduler& s) { return scheduler_ = &s, *this; }
  optim::LRScheduler* scheduler() const { return scheduler_; }
  /// Steps `s` after every epoch with the test loss (the train loss without a test loader).
  FitOptions& plateau(optim::ReduceLROnPlateau& s) { return plateau_ = &s, *this; }
  optim::ReduceLROnPlateau* plateau() const { return plateau_; }
  /// Evaluates on `loader` after every epoch (test_loss, test_acc).
  FitOptions& test_loader(DataLoader& loader) { return test_loader_ = &loader, *this; }
  DataLoader* test_loader() const { return test_loader_; }
  /// Writes the metrics as CSV to `path` after every epoch (rewritten, so it is always whole).
  FitOptions& metrics_csv(std::string path) { return metrics_csv_ = std::move(path), *this; }
  const std::string& metrics_csv() const { return metrics_csv_; }
  /// Epochs already done (default 0), e.g. when resuming from a checkpoint: fit runs epochs
  /// first_epoch + 1 .. epochs(), numbered so in its records and progress lines. Set the loader's
  /// epoch (DataLoader::set_epoch) and the scheduler's to match for an exact resume.
  FitOptions& start_epoch(int64_t v) { return start_epoch_ = v, *this; }
  int64_t start_epoch() const { return start_epoch_; }
  /// Called after every epoch (after the scheduler steps and the CSV is written) with that
  /// epoch's record, e.g. to save a checkpoint.
  FitOptions& on_epoch(std::function<void(const EpochMetrics&)> fn) {
    return on_epoch_ = std::move(fn), *this;
  }
  const std::function<void(const EpochMetrics&)>& on_epoch() const { return on_epoch_; }
  /// Print progress (default true).
  FitOptions& progress(bool v) { return progress_ = v, *this; }
  bool progress() const { return progress_; }
  /// Where progress goes: nullptr (default) is stderr, redrawn in place with \r when stderr is
  /// a terminal and one line per epoch otherwise; any other stream gets one line per epoch.
  FitOptions& log(std::ostream* os) { return log_ = os, *this; }
  std::ostream* log() const { return log_; }

 private:
  int64_t epochs_ = 1;
  int64_t start_epoch_ = 0;
  std::function<void(const EpochMetrics&)> on_epoch_;
  optim::LRScheduler* scheduler_ = nullptr;
  optim::ReduceLROnPlateau* plateau_ = nullptr;
  DataLoader* test_loader_ = nullptr;
  std::string metrics_csv_;
  bool progress_ = true;
  std::ostream* log_ = nullptr;
};

/// Trains `model` for options.epochs() - options.start_epoch() epochs: per batch, loss =
/// loss_fn(model(x), y), then zero_grad, backward, optimizer.step(). Runs in train mode and
/// restores the model's previous mode at the end. Returns one record per epoch (also written to
/// metrics_csv() if set).
std::vector<EpochMetrics> fit(Module& model, DataLoader& loader, optim::Optimizer& optimizer,
                              const LossFn& loss_fn, const FitOptions& options = {});
/// fit for a model held by std::shared_ptr.
template <typename M>
std::vector<EpochMetrics> fit(const std::shared_ptr<M>& model, DataLoader& loader,
                              optim::Optimizer& optimizer, const LossFn& loss_fn,
                              const FitOptions& options = {}) {
  return fit(static_cast<Module&>(*model), loader, optimizer, loss_fn, options);
}

/// Mean loss and accuracy of `model` over `loader`, in eval mode without recording a graph; the
/// model's previous mode is restored. NaN for both when the loader has no batches.
EvalResult evaluate(Module& model, DataLoader& loader, const LossFn& loss_fn);
/// evaluate for a model held by std::shared_ptr.
template <typename M>
EvalResult evaluate(const std::shared_ptr<M>& model, DataLoader& loader, const LossFn& loss_fn) {
  return evaluate(static_cast<Module&>(*model), loader, loss_fn);
}

/// Writes `metrics` as CSV: the header "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds"
/// and one row per epoch ("nan" where a value does not apply). Throws naming the path on failure.
void write_metrics_csv(const std::vector<EpochMetrics>& metrics, const std::string& path);

}  // namespace xg::nn
