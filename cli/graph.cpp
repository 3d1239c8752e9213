// `xgrad graph`: the computation graph of one training step of a model (forward, loss, what
// backward walks), one cluster per module, parameters by name; SVG, PNG, PDF or DOT.
#include <iostream>

#include "cli/common.hpp"

namespace xgcli {

void draw_graph(const std::string& model, const std::string& path, int64_t batch) {
  manual_seed(0);
  auto net = make_model(model);
  // One training step's graph on a batch of random "images" [batch, 1, 28, 28], labels in 0..9.
  const Tensor x = randn({static_cast<std::size_t>(batch), 1, 28, 28});
  const Tensor y = randint(0, 10, {static_cast<std::size_t>(batch)}, Dtype::int64);
  Tensor loss = nn::functional::cross_entropy((*net)(x), y);
  loss.set_name("loss");
  const std::string dot = viz::to_dot(
      {loss},
      viz::GraphOptions()
          .parameters(net->named_parameters())
          .title(model_title(model) + ": one training step (batch " + std::to_string(batch) + ")"));
  viz::render(dot, path);
}

void add_graph(CLI::App& app) {
  struct Args {
    std::string model = "mlp", out = "graph.svg";
    int64_t batch = 64;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "graph",
      "Render the computation graph of one training step (module clusters, parameter names)");
  cmd->add_option("--model", a->model, "softmax, mlp or cnn")
      ->check(CLI::IsMember(model_names()))
      ->capture_default_str();
  cmd->add_option("--batch-size", a->batch, "Batch size shown in the shapes")
      ->check(number_above_zero())
      ->capture_default_str();
  cmd->add_option("--out", a->out, "Picture to write: .svg, .png, .pdf or .dot")
      ->capture_default_str();
  cmd->callback([a] {
    const std::string ext = std::filesystem::path(a->out).extension().string();
    if (ext != ".svg" && ext != ".png" && ext != ".pdf" && ext != ".dot" && ext != ".gv")
      throw std::invalid_argument("--out " + a->out +
                                  ": the extension must be .svg, .png, .pdf or .dot");
    const std::string dir = std::filesystem::path(a->out).parent_path().string();
    prepare_folder(dir.empty() ? "." : dir);
    draw_graph(a->model, a->out, a->batch);
    std::cout << "wrote " << a->out << "\n";
  });
}

}  // namespace xgcli
