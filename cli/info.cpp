// `xgrad info`: what a safetensors checkpoint holds (tensor names, dtypes, shapes, element
// counts) and its metadata, read from the header alone.
#include <iomanip>
#include <iostream>

#include "cli/common.hpp"

namespace xgcli {

void add_info(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "List a checkpoint's tensors and metadata");
  cmd->add_option("checkpoint", *path, "A .safetensors file")->required();
  cmd->callback([path] {
    if (!std::filesystem::exists(*path))
      throw std::runtime_error("checkpoint " + *path + " not found");
    const nn::CheckpointInfo info = nn::read_header(*path);
    std::size_t width = 6;
    for (const nn::TensorInfo& t : info.tensors) width = std::max(width, t.name.size());
    std::cout << *path << ": " << info.tensors.size() << " tensors\n"
              << std::left << std::setw(static_cast<int>(width) + 2) << "name" << std::setw(9)
              << "dtype" << std::setw(18) << "shape"
              << "count\n";
    std::size_t total = 0;
    for (const nn::TensorInfo& t : info.tensors) {
      std::size_t n = 1;
      for (std::size_t d : t.shape) n *= d;
      total += n;
      std::cout << std::setw(static_cast<int>(width) + 2) << t.name << std::setw(9)
                << dtype_name(t.dtype) << std::setw(18) << shape_str(t.shape) << n << "\n";
    }
    std::cout << "total " << total << " elements\n";
    if (!info.metadata.empty()) {
      std::cout << "metadata:\n";
      for (const auto& [k, v] : info.metadata) std::cout << "  " << k << " = " << v << "\n";
    }
  });
}

}  // namespace xgcli
