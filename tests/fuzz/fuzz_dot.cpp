// viz::render on arbitrary DOT text, as a user's hand-written or edited graph would reach it.
// The first byte picks the output: 1 modulo 16 lays the graph out with the dot engine and writes
// .svg (about 1-20 ms an input: text is measured with Pango), anything else writes .dot (parse and
// syntax check only, about 0.1 ms), so that most executions go to the parser. Layout is bounded by
// small RenderOptions limits here (nodes, edges, bytes), the same checks that guard the defaults.
// Anything but a std::exception is a bug.
#include <exception>
#include <string>

#include "tests/fuzz/fuzz_util.hpp"
#include "viz/graph.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool svg = data[0] % 16 == 1;
  const std::string dot(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string path = xgfuzz::scratch_dir() + (svg ? "/out.svg" : "/out.dot");
  try {
    xg::viz::render(dot, path,
                    xg::viz::RenderOptions().max_nodes(200).max_edges(400).max_bytes(1 << 16));
  } catch (const std::exception&) {
  }
  return 0;
}
