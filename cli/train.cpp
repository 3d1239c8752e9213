// `xgrad train`: trains softmax regression, the MLP or the CNN on Fashion-MNIST with a progress
// bar, a checkpoint per epoch (resumable), metrics.csv, and the test accuracy and confusion
// matrix at the end.
//
// Files in --out: epoch_00.safetensors (the initial weights) ... epoch_NN.safetensors, each with
// the run's settings in its metadata; optimizer.safetensors (the optimizer's state after the last
// epoch, for --resume); metrics.csv; confusion.csv; training_curves.{svg,png}; report.html with
// --report.
//
// --distributed (under `mpirun -np N`): every rank trains a DistributedDataParallel copy of the
// model on its DistributedSampler shard of each epoch's order (seeded by --seed and the epoch
// only), --batch-size examples per rank per step, so a step sees the global batch N x
// --batch-size of one process's order. Rank 0 alone prints, shows the progress bar and writes
// every file (checkpoints of the unwrapped model, which load in a single-process run); a rank
// that fails prints "xgrad: error: rank R of N: ..." and ends the job with status 2. The
// checkpoints record the global batch as "batch_size", so --resume continues a run with another
// N as long as N x --batch-size is the same (the --out folder must be visible to every rank).
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "cli/common.hpp"
#include "optim/optim.hpp"
#ifdef XGRAD_HAVE_DIST
#include "dist/ddp.hpp"
#include "dist/fault.hpp"
#include "dist/process_group.hpp"
#endif

namespace xgcli {

namespace {

/// The optimizer of that name over `params`; momentum is SGD with momentum 0.9.
std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name,
                                                 const std::vector<Tensor>& params, double lr,
                                                 double wd) {
  if (name == "sgd")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions(lr).weight_decay(wd));
  if (name == "momentum")
    return std::make_unique<optim::SGD>(params,
                                        optim::SGDOptions(lr).momentum(0.9).weight_decay(wd));
  if (name == "adam")
    return std::make_unique<optim::Adam>(params, optim::AdamOptions(lr).weight_decay(wd));
  if (name == "adamw")
    return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(lr).weight_decay(wd));
  throw std::invalid_argument("unknown optimizer '" + name + "'");
}

}  // namespace

TrainResult train(const TrainSettings& s) {
  make_model(s.model);  // checks the name before any work
  if (s.epochs <= 0) throw std::invalid_argument("--epochs must be > 0");
  set_threads(s.threads);
  // One process, or rank `rank` of `ranks` with --distributed; rank 0 prints and writes.
  int rank = 0, ranks = 1;
#ifdef XGRAD_HAVE_DIST
  if (s.distributed) rank = dist::rank(), ranks = dist::world_size();
#else
  if (s.distributed)
    throw std::runtime_error(
        "--distributed: this xgrad was built without Open MPI "
        "(install libopenmpi-dev and openmpi-bin, then rebuild)");
#endif
  const bool writer = rank == 0;
  const int64_t global_batch = s.batch_size * ranks;

  // Defaults of tutorials/train_fashion_mnist (84% / 89% / 92% test accuracy in 10 epochs).
  double lr = s.model == "mlp" ? 0.05 : 0.01;
  if (s.optimizer == "adam" || s.optimizer == "adamw") lr = 1e-3;
  if (!std::isnan(s.lr)) lr = s.lr;
  const double wd = !std::isnan(s.weight_decay) ? s.weight_decay : s.model == "softmax" ? 0 : 5e-4;
  const nn::Metadata settings{{"model", s.model},
                              {"optimizer", s.optimizer},
                              {"lr", fmt(lr, 10)},
                              {"weight_decay", fmt(wd, 10)},
                              {"scheduler", s.scheduler},
                              {"batch_size", std::to_string(global_batch)},
                              {"epochs", std::to_string(s.epochs)},
                              {"seed", std::to_string(s.seed)},
                              {"limit", std::to_string(s.limit)}};

  // 1. Data (a missing data set fails here, before anything is written).
  nn::FashionMNIST train_set = fashion_mnist(s.data, true, s.limit);
  nn::FashionMNIST test_set = fashion_mnist(s.data, false, s.limit);
  // The same order of examples in every epoch for any number of ranks: the permutation of
  // (seed, epoch), whole in one process or dealt out by the DistributedSampler.
  auto loader_options =
      nn::DataLoaderOptions(static_cast<std::size_t>(s.batch_size)).prefetch(true);
  if (s.distributed)
    loader_options.sampler(std::make_shared<nn::DistributedSampler>(
        train_set.size(), static_cast<std::size_t>(ranks), static_cast<std::size_t>(rank),
        nn::DistributedSamplerOptions().seed(static_cast<uint64_t>(s.seed))));
  else
    loader_options.shuffle(true).seed(static_cast<uint64_t>(s.seed));
  nn::DataLoader loader(train_set, loader_options);
  nn::DataLoader test_loader(test_set, nn::DataLoaderOptions(1000));

  // 2. The output folder: writable, and holding no other run unless resuming it (checked before
  // anything is printed, so that an error is the only line). Rank 0 looks; the others learn
  // from it how many epochs are done and whether the optimizer state is there.
  const std::string optimizer_file = s.out + "/optimizer.safetensors";
  const std::string metrics_file = s.out + "/metrics.csv";
  int64_t done = 0;
  bool with_state = false;
  if (writer) {
    prepare_folder(s.out);
    std::vector<std::string> found = run_checkpoints(s.out);
    if (!found.empty() && !s.resume)
      throw std::runtime_error(s.out + " already holds a run (" + found.back() +
                               "); pass --resume to continue it or choose another --out");
    std::cout << "Fashion-MNIST from " << train_set.root() << ": " << train_set.size()
              << " training and " << test_set.size() << " test images\n";
    if (!found.empty()) {  // same settings?
      const nn::Metadata meta = nn::read_metadata(found.back());
      for (const auto& [key, value] : settings) {
        auto it = meta.find(key);
        if (it == meta.end() || it->second != value)
          throw std::runtime_error(
              "cannot resume " + found.back() + ": it was trained with " + key + " = " +
              (it == meta.end() ? "?" : it->second) + ", not " + value +
              (key == "batch_size" ? " (the global batch: ranks x --batch-size)" : "") +
              "; use another --out");
      }
      done = static_cast<int64_t>(found.size()) - 1;
      with_state = done > 0 && std::filesystem::exists(optimizer_file) &&
                   nn::read_metadata(optimizer_file).at("epoch") == std::to_string(done);
    }
  }
#ifdef XGRAD_HAVE_DIST
  if (s.distributed) {
    Tensor shared = tensor(std::vector<double>{static_cast<double>(done), with_state ? 1.0 : 0.0},
                           {2}, Dtype::int64);
    dist::broadcast(shared, 0);
    const std::vector<int64_t> v = shared.to_vector<int64_t>();
    done = v[0], with_state = v[1] != 0;
  }
#endif

  // 3. Model, optimizer, learning-rate schedule.
  manual_seed(static_cast<uint64_t>(s.seed));
  TrainResult r;
  r.model = make_model(s.model);
  std::unique_ptr<optim::Optimizer> opt =
      make_optimizer(s.optimizer, r.model->parameters(), lr, wd);
  std::unique_ptr<optim::LRScheduler> schedule;
  if (s.scheduler == "cosine")
    schedule = std::make_unique<optim::CosineAnnealingLR>(*opt, s.epochs);
  else if (s.scheduler == "step")
    schedule = std::make_unique<optim::StepLR>(*opt, std::max<int64_t>(1, s.epochs / 3), 0.1);
  std::cout << model_title(s.model) << ", " << s.optimizer << " lr " << lr << " weight_decay " << wd
            << ", scheduler " << s.scheduler << ", batch " << s.batch_size;
  if (s.distributed)
    std::cout << " per rank x " << ranks << (ranks == 1 ? " rank" : " ranks") << " = "
              << global_batch << " global";
  std::cout << ", " << s.epochs << " epochs\n";

  // Extra metadata of the checkpoints (not compared on --resume).
  nn::Metadata extra;
  if (s.distributed) extra["ranks"] = std::to_string(ranks);
  if (done > 0) {  // 4. Resume: weights, optimizer state, schedule, shuffle order, metrics.
    const std::string last = epoch_file(s.out, done);
    nn::load(*r.model, last);
    if (with_state) load_optimizer(*opt, optimizer_file);
    if (schedule) schedule->step(done);
    loader.set_epoch(static_cast<uint64_t>(done));
    if (writer && std::filesystem::exists(metrics_file))
      for (const nn::EpochMetrics& m : viz::read_metrics_csv(metrics_file))
        if (m.epoch <= done) r.history.push_back(m);
    if (done < s.epochs)
      std::cout << "Resuming " << last << " after epoch " << done << " (weights"
                << (with_state
                        ? ", optimizer state"
                        : "; no optimizer state found, so " + s.optimizer + " restarts its buffers")
                << ", learning-rate schedule, shuffle order)\n";
  } else if (writer) {
    nn::Metadata meta = settings;
    meta.insert(extra.begin(), extra.end());
    meta["epoch"] = "0";
    nn::save(*r.model, epoch_file(s.out, 0), meta);
  }

  // The module trained: the model itself, or with --distributed its DistributedDataParallel
  // wrapper (weights broadcast from rank 0, gradients averaged over the ranks). Checkpoints
  // always hold the unwrapped model.
  std::shared_ptr<nn::Module> trained = r.model;
#ifdef XGRAD_HAVE_DIST
  if (s.distributed) trained = std::make_shared<dist::DistributedDataParallel>(r.model);
#endif

  // 5. Train: after each epoch a checkpoint, the optimizer state and metrics.csv.
  auto loss_fn = [](const Tensor& scores, const Tensor& labels) {
    return nn::functional::cross_entropy(scores, labels);
  };
  if (done < s.epochs) {
    nn::FitOptions options;
    options.epochs(s.epochs)
        .start_epoch(done)
        .test_loader(test_loader)
        .progress(s.progress && writer);
    if (schedule) options.scheduler(*schedule);
    options.on_epoch([&](const nn::EpochMetrics& m) {
      if (!writer) return;
      nn::Metadata meta = settings;
      meta.insert(extra.begin(), extra.end());
      meta["epoch"] = std::to_string(m.epoch);
      meta["test_accuracy"] = fmt(m.test_acc, 6);
      nn::save(*r.model, epoch_file(s.out, m.epoch), meta);
      save_optimizer(*opt, optimizer_file, m.epoch);
      r.history.push_back(m);
      nn::write_metrics_csv(r.history, metrics_file + ".tmp");
      std::filesystem::rename(metrics_file + ".tmp", metrics_file);
    });
    nn::fit(*trained, loader, *opt, loss_fn, options);
  } else {
    std::cout << epoch_file(s.out, done) << ": already trained for " << s.epochs << " epochs\n";
  }
  if (!writer) return r;  // rank 0 tests and writes the rest
  r.checkpoints = run_checkpoints(s.out);

  // 6. Test: accuracy and the confusion matrix (rows: true class, columns: predicted).
  r.model->eval();
  {
    NoGradGuard no_grad;
    for (auto& [x, y] : test_loader) r.confusion.update((*r.model)(x), y);
  }
  write_confusion_csv(r.confusion, s.out + "/confusion.csv");
  if (!r.history.empty())
    for (const char* ext : {".svg", ".png"})
      viz::plot_training_curves(
          s.out + "/training_curves" + ext, r.history,
          viz::PlotOptions().title(model_title(s.model) + " on Fashion-MNIST"));
  std::cout << "\nConfusion matrix (rows: true class, columns: predicted):\n"
            << r.confusion.to_string(class_names()) << "\n"
            << std::fixed << std::setprecision(2)
            << "Test accuracy: " << 100 * r.confusion.accuracy() << "% (" << test_set.size()
            << " test images)\n"
            << std::defaultfloat;
  return r;
}

void add_train(CLI::App& app) {
  auto s = std::make_shared<TrainSettings>();
  s->out.clear();  // runs/MODEL unless given
  auto report = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("train", "Train a classifier on Fashion-MNIST");
  cmd->add_option("--model", s->model, "softmax, mlp or cnn")
      ->check(CLI::IsMember(model_names()))
      ->capture_default_str();
  cmd->add_option("--epochs", s->epochs, "Passes over the training images")
      ->check(number_above_zero())
      ->capture_default_str();
  cmd->add_option("--batch-size", s->batch_size, "Examples per step")
      ->check(number_above_zero())
      ->capture_default_str();
  cmd->add_option("--optimizer", s->optimizer,
                  "sgd, momentum (SGD with momentum 0.9), adam or adamw")
      ->check(CLI::IsMember({"sgd", "momentum", "adam", "adamw"}))
      ->capture_default_str();
  cmd->add_option("--lr", s->lr,
                  "Learning rate (default: 0.05 mlp, 0.01 softmax and cnn; 1e-3 for adam/adamw)")
      ->check(number_above_zero());
  cmd->add_option("--weight-decay", s->weight_decay, "Weight decay (default: 5e-4; 0 for softmax)")
      ->check(number_above_zero(true));
  cmd->add_option("--scheduler", s->scheduler,
                  "none, cosine (lr to 0 over the epochs) or step (x0.1 every epochs/3)")
      ->check(CLI::IsMember({"none", "cosine", "step"}))
      ->capture_default_str();
  cmd->add_option("--seed", s->seed, "Seed of the initial weights and the shuffle")
      ->check(number_above_zero(true))
      ->capture_default_str();
  cmd->add_option("--threads", s->threads, "OpenBLAS threads (0: as configured)")
      ->check(number_above_zero(true));
  cmd->add_option("--data", s->data,
                  "Folder of Fashion-MNIST (default: $XGRAD_DATA, else the "
                  "dataset-fashion-mnist package's)");
  cmd->add_option("--limit", s->limit, "Use only the first N training and test images (0: all)")
      ->check(number_above_zero(true));
  cmd->add_option("--out", s->out, "Output folder (default: runs/MODEL)");
  cmd->add_flag("--resume", s->resume, "Continue the run in --out from its last checkpoint");
  cmd->add_flag("--report", *report, "Also write report.html in --out");
  cmd->add_flag("--distributed", s->distributed,
                "Run as one rank of `mpirun -np N xgrad train ...`: DistributedDataParallel over "
                "a DistributedSampler, --batch-size per rank (global batch N x --batch-size); "
                "rank 0 prints and writes every file");
  cmd->callback([s, report] {
    if (s->out.empty()) s->out = "runs/" + s->model;
    auto command = [s, report](bool writer) {
      TrainResult r = train(*s);
      if (!writer) return;
      std::cout << "Checkpoints: " << r.checkpoints.front() << " ... " << r.checkpoints.back()
                << "\nMetrics: " << s->out << "/metrics.csv, " << s->out << "/confusion.csv, "
                << s->out << "/training_curves.png\n";
      if (*report) {
        draw_graph(s->model, s->out + "/graph.svg");
        std::cout << "Report: " << write_report(s->out) << "\n";
      }
    };
    if (!s->distributed) return command(true);
#ifdef XGRAD_HAVE_DIST
    // One rank of an MPI job: only rank 0 prints (the others' std::cout is muted), and an
    // exception on any rank ends the whole job (the others may wait for it in a collective).
    dist::init();
    const bool writer = dist::rank() == 0;
    std::streambuf* out = std::cout.rdbuf();
    if (!writer) std::cout.rdbuf(nullptr);
    try {
      command(writer);
    } catch (const std::exception& e) {
      std::cout.rdbuf(out);
      std::ostringstream line;  // one write: the ranks' lines do not interleave
      line << "xgrad: error: rank " << dist::rank() << " of " << dist::world_size() << ": "
           << e.what() << "\n";
      std::cerr << line.str() << std::flush;
      dist::abort(2);
    }
    std::cout.rdbuf(out);
    dist::finalize();
#else
    train(*s);  // throws: built without Open MPI
#endif
  });
}

}  // namespace xgcli
