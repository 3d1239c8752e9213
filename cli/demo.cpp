// `xgrad demo`: the main job. Trains the MLP on Fashion-MNIST with a checkpoint per epoch,
// renders its computation graph and training curves, computes its loss landscape (1D
// interpolation, 2D filter-normalized surface, the PCA trajectory) and the top Hessian
// eigenvalue, writes report.html and prints a summary. Rerun with the same options and it
// resumes (finished epochs and grid points are kept).
#include <unistd.h>

#include <chrono>
#include <iomanip>
#include <iostream>

#include "cli/common.hpp"

namespace xgcli {

void add_demo(CLI::App& app) {
  struct Args {
    std::string out = "runs/demo", data;
    int64_t epochs = 10;
    std::size_t limit = 0, eval_images = 2000, threads = 0;
    std::string grid = "-1:1:31";
    bool quick = false, full = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Train the MLP on Fashion-MNIST, draw its graph and loss landscape, write report.html");
  cmd->add_option("--out", a->out, "Output folder")->capture_default_str();
  cmd->add_option("--epochs", a->epochs, "Training epochs (at least 2, for the trajectory)")
      ->check(CLI::Range(2, 1000))
      ->capture_default_str();
  cmd->add_option("--limit", a->limit, "Only the first N training and test images (0: all)")
      ->check(number_above_zero(true));
  cmd->add_option("--grid", a->grid, "Landscape grid per axis, MIN:MAX:NUM")->capture_default_str();
  cmd->add_option("--eval-images", a->eval_images,
                  "Test images each landscape point and the Hessian use (0: all 10,000)")
      ->check(number_above_zero(true))
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "Threads (0: one per core)")
      ->check(number_above_zero(true));
  cmd->add_option("--data", a->data,
                  "Folder of Fashion-MNIST (default: $XGRAD_DATA or the package's)");
  auto quick =
      cmd->add_flag("--quick", a->quick,
                    "Seconds, for CI: 2 epochs on 2,000 images, a 5 x 5 grid over 200 images");
  cmd->add_flag("--full", a->full,
                "The paper's size: 10 epochs, a 51 x 51 grid over all 10,000 test images (long)")
      ->excludes(quick);
  cmd->callback([a] {
    const auto t0 = std::chrono::steady_clock::now();
    TrainSettings t;
    t.model = "mlp";
    t.epochs = a->epochs;
    t.limit = a->limit;
    std::size_t images = a->eval_images;
    std::string grid = a->grid, line = "-0.5:1.5:41";
    if (a->quick) t.epochs = 2, t.limit = 2000, images = 200, grid = "-1:1:5", line = "-0.5:1.5:9";
    if (a->full) t.epochs = 10, images = 0, grid = "-1:1:51";
    viz::Axis check(grid);  // a bad grid fails before any work
    t.data = a->data;
    t.threads = a->threads;
    t.out = a->out;
    t.resume = true;  // a rerun continues (or reuses) the run in --out with the same settings

    std::cout << "== 1/4 training " << model_title(t.model) << " for " << t.epochs << " epochs\n";
    TrainResult r = train(t);

    std::cout << "== 2/4 computation graph\n";
    draw_graph(t.model, a->out + "/graph.svg");
    draw_graph(t.model, a->out + "/graph.png");

    std::cout << "== 3/4 loss landscape and curvature over " << (images ? images : 10000)
              << " test images\n";
    LandscapeSettings s;
    s.run = a->out;
    s.grid = grid;
    s.line = line;
    s.limit = images;
    s.threads = a->threads;
    s.data = a->data;
    s.top_k = 1;
    s.progress = ::isatty(STDERR_FILENO) == 1;  // bars on a terminal, not in logs
    const std::vector<std::string> lines{landscape_1d(s), landscape_2d(s), landscape_trajectory(s),
                                         landscape_hessian(s)};
    for (const std::string& l : lines) std::cout << l << "\n";

    std::cout << "== 4/4 report\n";
    const std::string report = write_report(a->out);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "\nSummary\n"
              << std::fixed << std::setprecision(2) << "  test accuracy   "
              << 100 * r.confusion.accuracy() << "% (" << r.confusion.num_samples()
              << " test images, " << t.epochs << " epochs)\n"
              << "  report          " << report << "\n"
              << "  pictures        " << a->out
              << "/{graph,training_curves,interpolation,surface,trajectory}.png\n"
              << "  checkpoints     " << r.checkpoints.front() << " ... " << r.checkpoints.back()
              << "\n"
              << std::setprecision(1) << "  time            " << seconds << " s\n";
  });
}

}  // namespace xgcli
