// The files the command line reads back, on arbitrary bytes. The first byte picks the reader:
//   0  viz::read_metrics_csv      (metrics.csv: `xgrad train --resume`, `xgrad report`)
//   1  viz::read_grid_csv         (a landscape's CSV: `xgrad report`, plots)
//   2  checkpoint metadata: xgcli::checkpoint_model (the "model" key), then
//      xgcli::read_optimizer_state (optimizer.safetensors of `xgrad train --resume`)
// the rest is the file. Anything but a std::exception is a bug.
#include <exception>

#include "cli/common.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int which = data[0] % 3;
  const std::string path =
      xgfuzz::write_file(which == 2 ? "input.safetensors" : "input.csv", data + 1, size - 1);
  try {
    switch (which) {
      case 0:
        (void)xg::viz::read_metrics_csv(path);
        break;
      case 1:
        (void)xg::viz::read_grid_csv(path);
        break;
      default:
        try {
          (void)xgcli::checkpoint_model(path);
        } catch (const std::exception&) {
        }
        (void)xgcli::read_optimizer_state(path);
        break;
    }
  } catch (const std::exception&) {
  }
  return 0;
}
