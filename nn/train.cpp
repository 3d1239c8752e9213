// fit / evaluate: the epoch loop, accuracy counting, the progress line and the metrics CSV.
#include "nn/train.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "autograd/extend.hpp"
#include "autograd/grad_mode.hpp"
#include "autograd/ops.hpp"

namespace xg::nn {
namespace {

/// Throws std::runtime_error built from streamable parts: a file that cannot be opened, read or
/// written (fail() is for bad arguments), as nn::save/load, viz::render and the plots do.
template <typename... Args>
[[noreturn]] void io_fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw std::runtime_error(os.str());
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Number of rows of output [B, C] whose argmax equals the int64 label in target [B]; -1 when
/// the shapes are not a classification.
int64_t count_correct(const Tensor& output, const Tensor& target) {
  if (!output.defined() || !target.defined() || target.dtype() != Dtype::int64 ||
      output.dim() != 2 || target.dim() != 1 || output.shape()[0] != target.shape()[0] ||
      output.dtype() == Dtype::int64)
    return -1;
  if (output.shape()[0] == 0 || output.shape()[1] == 0) return 0;
  Tensor pred = argmax(output.detach(), 1);
  const int64_t* p = pred.data_ptr<int64_t>();
  const int64_t* t = target.data_ptr<int64_t>();
  int64_t correct = 0;
  for (std::size_t i = 0; i < target.numel(); ++i) correct += p[i] == t[i];
  return correct;
}

/// The loss as a double; fails unless loss_fn gave one value.
double loss_value(const char* who, const Tensor& loss) {
  XG_CHECK(loss.defined(), who, ": loss_fn returned an undefined tensor");
  XG_CHECK(loss.numel() == 1, who, ": loss_fn returned a tensor of shape ", loss.shape(),
           "; expected one value (use a mean or sum reduction)");
  return loss.to(Dtype::float64).item<double>();
}

/// Running sums of one pass over a loader.
struct Tally {
  double loss_sum = 0;  // sum of batch loss * batch size
  std::size_t samples = 0;
  int64_t correct = 0;
  bool classification = true;

  void add(double loss, std::size_t batch, int64_t correct_in_batch) {
    loss_sum += loss * static_cast<double>(batch);
    samples += batch;
    if (correct_in_batch < 0)
      classification = false;
    else
      correct += correct_in_batch;
  }
  double loss() const { return samples ? loss_sum / static_cast<double>(samples) : kNaN; }
  double accuracy() const {
    return samples && classification ? static_cast<double>(correct) / static_cast<double>(samples)
                                     : kNaN;
  }
};

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) s = 0;
  const auto total = static_cast<long long>(s + 0.5);
  char buf[32];
  if (total >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", total / 60, total % 60);
  return buf;
}

std::string fmt_metric(double v, bool percent) {
  if (std::isnan(v)) return "n/a";
  std::ostringstream os;
  os << std::fixed << std::setprecision(percent ? 2 : 4) << (percent ? v * 100 : v)
     << (percent ? "%" : "");
  return os.str();
}

/// "epoch 3/10 [=========>          ] 312/938 loss 0.5123 18750 samples/s ETA 0:12"
std::string bar_line(int64_t epoch, int64_t epochs, std::size_t i, std::size_t n,
                     const Tally& tally, double elapsed) {
  constexpr std::size_t kWidth = 24;
  const std::size_t filled = n ? i * kWidth / n : kWidth;
  std::string bar(filled, '=');
  if (filled < kWidth) bar += '>' + std::string(kWidth - filled - 1, ' ');
  const double rate = elapsed > 0 ? static_cast<double>(tally.samples) / elapsed : 0;
  const double eta = i ? elapsed / static_cast<double>(i) * static_cast<double>(n - i) : 0;
  std::ostringstream os;
  os << "epoch " << epoch << "/" << epochs << " [" << bar << "] " << i << "/" << n << " loss "
     << fmt_metric(tally.loss(), false) << " " << static_cast<long long>(rate) << " samples/s ETA "
     << fmt_duration(eta);
  return os.str();
}

/// "epoch 3/10: train_loss 0.5123 train_acc 81.23% test_loss ... lr 0.1 3.2 s 18750 samples/s"
/// (samples/s over the training batches only).
std::string epoch_line(int64_t epochs, const EpochMetrics& m, std::size_t samples,
                       double train_seconds) {
  std::ostringstream os;
  os << "epoch " << m.epoch << "/" << epochs << ": train_loss " << fmt_metric(m.train_loss, false)
     << " train_acc " << fmt_metric(m.train_acc, true);
  if (!std::isnan(m.test_loss))
    os << " test_loss " << fmt_metric(m.test_loss, false) << " test_acc "
       << fmt_metric(m.test_acc, true);
  os << " lr " << m.lr << " " << std::fixed << std::setprecision(1) << m.seconds << " s "
     << static_cast<long long>(train_seconds > 0 ? static_cast<double>(samples) / train_seconds : 0)
     << " samples/s";
  return os.str();
}

/// Restores a module's train/eval mode on scope exit.
class ModeGuard {
 public:
  explicit ModeGuard(Module& m) : m_(m), was_training_(m.is_training()) {}
  ~ModeGuard() { m_.train(was_training_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  Module& m_;
  bool was_training_;
};

std::string csv_value(double v) {
  if (std::isnan(v)) return "nan";
  std::ostringstream os;
  os << std::setprecision(10) << v;
  return os.str();
}

}  // namespace

EvalResult evaluate(Module& model, DataLoader& loader, const LossFn& loss_fn) {
  XG_CHECK(static_cast<bool>(loss_fn), "evaluate: loss_fn is empty");
  ModeGuard mode(model);
  model.eval();
  NoGradGuard no_grad;
  Tally tally;
  for (auto& [x, y] : loader) {
    Tensor out = model(x);
    const double loss = loss_value("evaluate", loss_fn(out, y));
    tally.add(loss, x.shape().empty() ? 1 : x.shape()[0], count_correct(out, y));
  }
  return {tally.loss(), tally.accuracy()};
}

void write_metrics_csv(const std::vector<EpochMetrics>& metrics, const std::string& path) {
  std::ofstream f(path, std::ios::trunc);
  if (!f.good()) io_fail("write_metrics_csv: cannot open ", path, " for writing");
  f << "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds\n";
  for (const EpochMetrics& m : metrics)
    f << m.epoch << "," << csv_value(m.train_loss) << "," << csv_value(m.train_acc) << ","
      << csv_value(m.test_loss) << "," << csv_value(m.test_acc) << "," << csv_value(m.lr) << ","
      << csv_value(m.seconds) << "\n";
  f.flush();
  if (!f.good()) io_fail("write_metrics_csv: writing ", path, " failed");
}

std::vector<EpochMetrics> fit(Module& model, DataLoader& loader, optim::Optimizer& optimizer,
                              const LossFn& loss_fn, const FitOptions& options) {
  XG_CHECK(static_cast<bool>(loss_fn), "fit: loss_fn is empty");
  XG_CHECK(options.epochs() > 0, "fit: epochs must be > 0, got ", options.epochs());
  XG_CHECK(options.start_epoch() >= 0 && options.start_epoch() < options.epochs(),
           "fit: start_epoch must be in [0, epochs), got ", options.start_epoch(), " with epochs ",
           options.epochs());
  XG_CHECK(!optimizer.param_groups().empty(), "fit: the optimizer has no parameter groups");
  XG_CHECK(options.test_loader() != &loader,
           "fit: the test loader is the training loader (pass a separate DataLoader)");
  XG_CHECK(!options.scheduler() || &options.scheduler()->optimizer() == &optimizer,
           "fit: the scheduler (FitOptions::scheduler) sets the learning rates of another "
           "optimizer than the one given to fit");
  {  // an optimizer built from another model's parameters would train nothing here
    const TensorList own = model.parameters();
    std::size_t given = 0;
    bool shared = own.empty();
    for (const auto& group : optimizer.param_groups())
      for (const Tensor& p : group.params()) {
        ++given;
        for (const Tensor& q : own) shared = shared || p.is_same(q);
      }
    XG_CHECK(shared, "fit: none of the optimizer's ", given, " parameters belongs to the model (",
             model.type_name(), ", ", own.size(),
             " parameters); build the optimizer from model.parameters()");
  }
  std::ostream& out = options.log() ? *options.log() : std::cerr;
  const bool terminal = options.log() == nullptr && ::isatty(STDERR_FILENO) == 1;
  const bool show = options.progress();

  ModeGuard mode(model);
  std::vector<EpochMetrics> history;
  const int64_t epochs = options.epochs();
  for (int64_t epoch = options.start_epoch() + 1; epoch <= epochs; ++epoch) {
    const auto t0 = Clock::now();
    auto last_draw = t0;
    const double lr = optimizer.param_groups()[0].lr();
    model.train();
    Tally tally;
    const std::size_t n = loader.size();
    std::size_t i = 0;
    for (auto& [x, y] : loader) {
      Tensor output = model(x);
      Tensor loss = loss_fn(output, y);
      const double value = loss_value("fit", loss);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      tally.add(value, x.shape().empty() ? 1 : x.shape()[0], count_correct(output, y));
      ++i;
      if (show && terminal) {
        const auto now = Clock::now();
        if (i == 1 || i == n || std::chrono::duration<double>(now - last_draw).count() >= 0.1) {
          last_draw = now;
          out << "\r" << bar_line(epoch, epochs, i, n, tally, seconds_since(t0)) << "\x1b[K"
              << std::flush;
        }
      }
    }
    const double train_seconds = seconds_since(t0);
    EpochMetrics m{epoch, tally.loss(), tally.accuracy(), kNaN, kNaN, lr, 0.0};
    if (options.test_loader()) {
      EvalResult r = evaluate(model, *options.test_loader(), loss_fn);
      m.test_loss = r.loss;
      m.test_acc = r.accuracy;
    }
    m.seconds = seconds_since(t0);
    history.push_back(m);
    if (show)
      out << (terminal ? "\r" : "") << epoch_line(epochs, m, tally.samples, train_seconds)
          << (terminal ? "\x1b[K\n" : "\n") << std::flush;
    if (options.scheduler()) options.scheduler()->step();
    if (options.plateau())
      options.plateau()->step(options.test_loader() ? m.test_loss : m.train_loss);
    if (!options.metrics_csv().empty()) write_metrics_csv(history, options.metrics_csv());
    if (options.on_epoch()) options.on_epoch()(m);
  }
  return history;
}

}  // namespace xg::nn
