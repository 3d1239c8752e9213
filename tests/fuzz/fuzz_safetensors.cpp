// The safetensors reader on arbitrary bytes: nn::read_header, nn::read_metadata, nn::load_file,
// then load_state_dict into a small model (strict and not), whose shape/dtype/key checks then
// run on whatever the file held. Anything but a std::exception is a bug.
#include <cstdlib>
#include <exception>
#include <memory>

#include "nn/nn.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {
/// Keys "0.weight" [3, 2] F32, "0.bias" [3] F32, "1.weight"/"1.bias"/"1.running_mean"/
/// "1.running_var" [3] F32 and "1.num_batches_tracked" [] I64.
std::shared_ptr<xg::nn::Module> model() {
  static auto m = std::make_shared<xg::nn::Sequential>(
      std::make_shared<xg::nn::Linear>(2, 3),
      std::make_shared<xg::nn::BatchNorm1d>(xg::nn::BatchNormOptions(3)));
  return m;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = xgfuzz::write_file("input.safetensors", data, size);
  try {
    const xg::nn::CheckpointInfo info = xg::nn::read_header(path);
    (void)xg::nn::read_metadata(path);
    const xg::nn::Checkpoint ck = xg::nn::load_file(path);
    if (ck.tensors.size() != info.tensors.size()) std::abort();
    for (std::size_t i = 0; i < ck.tensors.size(); ++i)
      if (ck.tensors[i].first != info.tensors[i].name ||
          ck.tensors[i].second.shape() != info.tensors[i].shape ||
          ck.tensors[i].second.dtype() != info.tensors[i].dtype)
        std::abort();
    for (bool strict : {true, false}) {
      try {
        model()->load_state_dict(ck.tensors, strict);
      } catch (const std::exception&) {
      }
    }
  } catch (const std::exception&) {
  }
  return 0;
}
