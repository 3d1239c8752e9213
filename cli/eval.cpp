// `xgrad eval`: a checkpoint's test loss, accuracy and confusion matrix on Fashion-MNIST.
#include <iomanip>
#include <iostream>

#include "cli/common.hpp"

namespace xgcli {

void add_eval(CLI::App& app) {
  struct Args {
    std::string checkpoint, model, data;
    std::size_t limit = 0, threads = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("eval", "Test loss, accuracy and confusion matrix of a checkpoint");
  cmd->add_option("checkpoint", a->checkpoint, "A .safetensors file written by xgrad train")
      ->required();
  cmd->add_option("--model", a->model, "softmax, mlp or cnn (default: from the checkpoint)")
      ->check(CLI::IsMember(model_names()));
  cmd->add_option("--data", a->data,
                  "Folder of Fashion-MNIST (default: $XGRAD_DATA or the package's)");
  cmd->add_option("--limit", a->limit, "Only the first N test images (0: all)")
      ->check(number_above_zero(true));
  cmd->add_option("--threads", a->threads, "OpenBLAS threads (0: as configured)")
      ->check(number_above_zero(true));
  cmd->callback([a] {
    set_threads(a->threads);
    auto net = load_model(a->checkpoint, a->model);
    nn::FashionMNIST test_set = fashion_mnist(a->data, false, a->limit);
    nn::DataLoader loader(test_set, nn::DataLoaderOptions(1000));
    auto loss_fn = [](const Tensor& s, const Tensor& y) {
      return nn::functional::cross_entropy(s, y);
    };
    const nn::EvalResult r = nn::evaluate(*net, loader, loss_fn);
    nn::ConfusionMatrix cm(10);
    net->eval();
    {
      NoGradGuard no_grad;
      for (auto& [x, y] : loader) cm.update((*net)(x), y);
    }
    std::cout << "Confusion matrix (rows: true class, columns: predicted):\n"
              << cm.to_string(class_names()) << "\n"
              << std::fixed << std::setprecision(4) << a->checkpoint << " on " << test_set.size()
              << " test images: loss " << r.loss << ", accuracy " << std::setprecision(2)
              << 100 * r.accuracy << "%\n";
  });
}

}  // namespace xgcli
