// Draws the computation graph of one training step of an MLP (784-256-128-10): what
// loss.backward() walks, with one cluster per module and the parameters named.
//
// Run:  ./build/tutorials/mlp_graph [OUT_DIR]      (made if missing; writes mlp_graph.svg,
//                                                   .png and .dot there)
//
// The forward pass runs under SavedTensorsInfoGuard so that the graph also shows the tensors
// each op keeps for backward (orange), as torchviz's show_saved.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "viz/viz.hpp"

using namespace xg;

int main(int argc, char** argv) {
  try {
    const std::string dir = argc > 1 ? argv[1] : ".";
    std::filesystem::create_directories(dir);
    manual_seed(0);
    auto model = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
    optim::SGD opt(model->parameters(), optim::SGDOptions(0.1));

    // One training step on a random batch of 64 "images" with labels in [0, 10).
    const Tensor x = randn({64, 1, 28, 28});
    const Tensor y = randint(0, 10, {64}, Dtype::int64);
    Tensor loss;
    {
      SavedTensorsInfoGuard record_saved;  // only needed for show_saved
      loss = nn::functional::cross_entropy((*model)(x), y);
    }
    loss.set_name("loss");
    // The graph as recorded, before backward frees what it saved.
    const auto options = viz::GraphOptions()
                             .parameters(model->named_parameters())
                             .show_saved(true)
                             .title("MLP 784-256-128-10: one training step (batch 64)");
    const std::string dot = viz::to_dot({loss}, options);
    opt.zero_grad();
    loss.backward();
    opt.step();

    for (const char* ext : {"svg", "png", "dot"}) {
      const std::string path = dir + "/mlp_graph." + ext;
      viz::render(dot, path);
      std::cout << "wrote " << path << "\n";
    }
    std::cout << "loss " << loss.item<float>() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "mlp_graph: " << e.what() << "\n";
    return 1;
  }
}
