// fit / evaluate: a small classifier on make_blobs, the metrics record and CSV, the per-epoch
// progress lines, LR schedules, mode restoring, and errors.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "tests/test_util.hpp"

using namespace xg;
using xg::test::error_of;

namespace {

/// Softmax regression: logits [B, C] = x [B, d] W^T + b.
struct Linear : nn::Module {
  Linear(std::size_t in, std::size_t out) : Module("Linear") {
    manual_seed(0);
    register_parameter("weight", randn({out, in}) * 0.1);
    register_parameter("bias", zeros({out}));
  }
  Tensor forward(const Tensor& x) override { return linear(x, local("weight"), local("bias")); }
};

/// Mean cross-entropy from logits [B, C] and int64 labels [B] (log_softmax + gather).
Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  return -gather(log_softmax(logits, 1), 1, target.unsqueeze(1)).mean();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream is(text);
  for (std::string line; std::getline(is, line);) out.push_back(line);
  return out;
}

std::string temp_path(const char* name) {
  return "/tmp/xgrad_train_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace

TEST_CASE("fit trains a classifier on make_blobs past 95% and writes the metrics CSV") {
  // 800 points around 3 centers; the first 600 train, the last 200 test.
  nn::TensorDataset all = nn::make_blobs(800, 3, 2, 1.0, 0);
  nn::TensorDataset train(narrow(all.data(), 0, 0, 600), narrow(all.targets(), 0, 0, 600));
  nn::TensorDataset test(narrow(all.data(), 0, 600, 200), narrow(all.targets(), 0, 600, 200));
  auto model = std::make_shared<Linear>(2, 3);
  nn::DataLoader train_loader(train, nn::DataLoaderOptions(32).shuffle(true).seed(1));
  nn::DataLoader test_loader(test, nn::DataLoaderOptions(64));
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.02).momentum(0.9));
  optim::StepLR sched(opt, 3, 0.5);
  const std::string csv = temp_path("metrics.csv");
  std::ostringstream log;
  model->eval();  // fit trains in train mode and restores this
  auto history = nn::fit(model, train_loader, opt, cross_entropy,
                         nn::FitOptions()
                             .epochs(8)
                             .scheduler(sched)
                             .test_loader(test_loader)
                             .metrics_csv(csv)
                             .log(&log));
  CHECK_FALSE(model->is_training());
  REQUIRE(history.size() == 8);
  for (std::size_t e = 0; e < history.size(); ++e) {
    CHECK(history[e].epoch == static_cast<int64_t>(e + 1));
    CHECK(history[e].lr == doctest::Approx(0.02 * std::pow(0.5, static_cast<double>(e / 3))));
    CHECK(std::isfinite(history[e].train_loss));
    CHECK(history[e].seconds >= 0);
  }
  CHECK(history.back().train_loss < history.front().train_loss);
  CHECK(history.back().train_acc > 0.95);
  CHECK(history.back().test_acc > 0.95);
  nn::EvalResult r = nn::evaluate(model, test_loader, cross_entropy);
  CHECK(r.accuracy > 0.95);
  CHECK(r.accuracy == doctest::Approx(history.back().test_acc));
  CHECK(r.loss == doctest::Approx(history.back().test_loss));

  // One progress line per epoch on a stream that is not a terminal.
  const auto log_lines = lines_of(log.str());
  REQUIRE(log_lines.size() == 8);
  CHECK(log_lines[0].rfind("epoch 1/8: train_loss ", 0) == 0);
  CHECK(log_lines[7].find(" test_acc ") != std::string::npos);
  CHECK(log_lines[7].find(" samples/s") != std::string::npos);
  CHECK(log.str().find('\r') == std::string::npos);

  std::ifstream f(csv);
  std::stringstream content;
  content << f.rdbuf();
  const auto rows = lines_of(content.str());
  REQUIRE(rows.size() == 9);
  CHECK(rows[0] == "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds");
  for (std::size_t e = 1; e < rows.size(); ++e) {
    std::vector<double> v;
    std::istringstream is(rows[e]);
    for (std::string cell; std::getline(is, cell, ',');) v.push_back(std::stod(cell));
    REQUIRE(v.size() == 7);
    CHECK(v[0] == static_cast<double>(e));
    CHECK(v[1] == doctest::Approx(history[e - 1].train_loss));
    CHECK(v[4] == doctest::Approx(history[e - 1].test_acc));
    CHECK(v[5] == doctest::Approx(history[e - 1].lr));
  }
  std::remove(csv.c_str());
}

TEST_CASE("evaluate runs in eval mode without a graph and restores the mode") {
  struct Probe : Linear {
    std::vector<bool> modes, grad_modes;
    Probe() : Linear(2, 3) {}
    Tensor forward(const Tensor& x) override {
      modes.push_back(is_training());
      grad_modes.push_back(is_grad_enabled());
      return Linear::forward(x);
    }
  };
  auto probe = std::make_shared<Probe>();
  nn::DataLoader loader(nn::make_blobs(10, 3, 2, 1.0, 0), nn::DataLoaderOptions(4));
  CHECK(probe->is_training());
  nn::EvalResult r = nn::evaluate(probe, loader, cross_entropy);
  CHECK(probe->is_training());
  CHECK(probe->modes == std::vector<bool>{false, false, false});
  CHECK(probe->grad_modes == std::vector<bool>{false, false, false});
  CHECK(std::isfinite(r.loss));
  CHECK(r.accuracy >= 0);
  CHECK(r.accuracy <= 1);

  nn::DataLoader empty(nn::make_blobs(0, 3, 2, 1.0, 0), nn::DataLoaderOptions(4));
  nn::EvalResult none = nn::evaluate(probe, empty, cross_entropy);
  CHECK(std::isnan(none.loss));
  CHECK(std::isnan(none.accuracy));
}

TEST_CASE("fit on regression targets: accuracy is nan, CSV says nan") {
  struct Reg : nn::Module {
    Reg() : Module("Reg") { register_parameter("w", zeros({3, 1})); }
    Tensor forward(const Tensor& x) override { return matmul(x, local("w")); }
  } model;
  nn::DataLoader loader(nn::make_regression(64, 3, 0.0, 2), nn::DataLoaderOptions(16));
  optim::SGD opt(model.parameters(), optim::SGDOptions(0.1));
  auto mse = [](const Tensor& out, const Tensor& y) { return ((out - y) * (out - y)).mean(); };
  const std::string csv = temp_path("reg.csv");
  std::ostringstream log;
  auto h = nn::fit(model, loader, opt, mse, nn::FitOptions().epochs(5).metrics_csv(csv).log(&log));
  CHECK(std::isnan(h[0].train_acc));
  CHECK(std::isnan(h[0].test_loss));
  CHECK(h[4].train_loss < h[0].train_loss);
  CHECK(log.str().find("train_acc n/a") != std::string::npos);
  std::ifstream f(csv);
  std::string header, row;
  std::getline(f, header);
  std::getline(f, row);
  CHECK(row.rfind("1,", 0) == 0);
  CHECK(row.find(",nan,nan,nan,") != std::string::npos);
  std::remove(csv.c_str());

  std::ostringstream quiet;
  nn::fit(model, loader, opt, mse, nn::FitOptions().progress(false).log(&quiet));
  CHECK(quiet.str().empty());
}

TEST_CASE("fit and evaluate errors name the problem") {
  Linear model(2, 3);
  nn::DataLoader loader(nn::make_blobs(8, 3, 2, 1.0, 0), nn::DataLoaderOptions(4));
  optim::SGD opt(model.parameters(), optim::SGDOptions(0.1));
  auto per_sample = [](const Tensor& logits, const Tensor&) { return logits.sum({1}); };
  std::ostringstream log;
  CHECK(error_of([&] { nn::fit(model, loader, opt, per_sample, nn::FitOptions().log(&log)); }) ==
        "fit: loss_fn returned a tensor of shape [4]; expected one value (use a mean or sum "
        "reduction)");
  CHECK(error_of([&] { nn::fit(model, loader, opt, cross_entropy, nn::FitOptions().epochs(0)); }) ==
        "fit: epochs must be > 0, got 0");
  CHECK(error_of([&] { nn::fit(model, loader, opt, nn::LossFn()); }) == "fit: loss_fn is empty");
  CHECK(error_of([&] {
          nn::fit(model, loader, opt, cross_entropy, nn::FitOptions().test_loader(loader));
        }) == "fit: the test loader is the training loader (pass a separate DataLoader)");
  CHECK(error_of([&] { nn::evaluate(model, loader, per_sample); }) ==
        "evaluate: loss_fn returned a tensor of shape [4]; expected one value (use a mean or sum "
        "reduction)");
  CHECK(model.is_training());  // restored after the failure
}

TEST_CASE("fit resumes: start_epoch + loader epoch + optimizer state give the uninterrupted run") {
  nn::TensorDataset data = nn::make_blobs(300, 3, 2, 1.0, 0);
  auto run = [&](int64_t stop, int64_t resume_from, std::vector<int64_t>* seen) {
    auto model = std::make_shared<Linear>(2, 3);
    nn::DataLoader loader(data, nn::DataLoaderOptions(32).shuffle(true).seed(3));
    optim::SGD opt(model->parameters(), optim::SGDOptions(0.05).momentum(0.9));
    optim::StepLR sched(opt, 2, 0.5);
    std::ostringstream log;
    auto options = nn::FitOptions().epochs(stop).scheduler(sched).log(&log);
    if (seen) options.on_epoch([seen](const nn::EpochMetrics& m) { seen->push_back(m.epoch); });
    nn::fit(model, loader, opt, cross_entropy, options);
    if (resume_from == 0) return model->state_dict();
    // A new model and optimizer continue from the state after `stop` epochs.
    auto model2 = std::make_shared<Linear>(2, 3);
    model2->load_state_dict(model->state_dict());
    optim::SGD opt2(model2->parameters(), optim::SGDOptions(0.05).momentum(0.9));
    opt2.load_state_dict(opt.state_dict());
    optim::StepLR sched2(opt2, 2, 0.5);
    sched2.step(stop);
    nn::DataLoader loader2(data, nn::DataLoaderOptions(32).shuffle(true).seed(3));
    loader2.set_epoch(static_cast<uint64_t>(stop));
    auto history =
        nn::fit(model2, loader2, opt2, cross_entropy,
                nn::FitOptions().epochs(resume_from).start_epoch(stop).scheduler(sched2).log(&log));
    REQUIRE(history.size() == static_cast<std::size_t>(resume_from - stop));
    CHECK(history.front().epoch == stop + 1);
    return model2->state_dict();
  };
  std::vector<int64_t> seen;
  const nn::NamedTensors straight = run(5, 0, &seen);
  CHECK(seen == std::vector<int64_t>{1, 2, 3, 4, 5});
  const nn::NamedTensors resumed = run(3, 5, nullptr);
  REQUIRE(straight.size() == resumed.size());
  for (std::size_t i = 0; i < straight.size(); ++i)
    CHECK(straight[i].second.to_vector<float>() == resumed[i].second.to_vector<float>());
  auto model = std::make_shared<Linear>(2, 3);
  nn::DataLoader loader(data, nn::DataLoaderOptions(32));
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.05));
  CHECK(error_of([&] {
          nn::fit(model, loader, opt, cross_entropy, nn::FitOptions().epochs(2).start_epoch(2));
        }) == "fit: start_epoch must be in [0, epochs), got 2 with epochs 2");
}
