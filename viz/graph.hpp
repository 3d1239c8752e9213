#pragma once
// Computation graphs: the graph recorded behind one or more tensors as Graphviz DOT (torchviz's
// picture, with module clusters), laid out and rendered in process by libgvc to SVG, PNG or PDF.
//
//   auto model = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
//   Tensor loss = nn::functional::cross_entropy((*model)(x), y);
//   std::string dot = viz::to_dot({loss},
//   viz::GraphOptions().parameters(model->named_parameters())); viz::render(dot, "graph.svg"); //
//   or .png, .pdf, .dot
//
// Colours as torchviz: parameters (leaves) lightblue, outputs darkolivegreen1, saved tensors
// orange, ops lightgrey. Edges go from an op's inputs to the op (inputs at the top).
#include <cstddef>
#include <string>
#include <vector>

#include "autograd/arg.hpp"
#include "autograd/tensor.hpp"
#include "nn/module.hpp"

namespace xg::viz {

/// What to_dot draws and how much of it.
struct GraphOptions {
  /// Names for leaf tensors (e.g. model.named_parameters()); unnamed leaves show the tensor's
  /// name() if set, else their shape.
  XG_ARG(nn::NamedTensors, parameters);
  /// Draws the tensors each op saved for backward (orange, undirected edge to the op). The
  /// forward pass must have run under xg::SavedTensorsInfoGuard (else the graph says so).
  XG_ARG(bool, show_saved) = false;
  /// Leaves and outputs with at most max_value_elements() elements get a micrograd-style record
  /// label `name | data .. | grad ..` (the graph keeps no other tensor values).
  XG_ARG(bool, show_values) = false;
  /// Element limit for show_values (larger tensors show their shape only).
  XG_ARG(std::size_t, max_value_elements) = 16;
  /// One cluster per module path recorded by nn's module scopes ("features" holds "features.0").
  XG_ARG(bool, cluster_modules) = true;
  /// Most nodes drawn. Above it, whole modules (deepest first) become single nodes; if that is
  /// not enough, only the max_nodes() nodes nearest the outputs are drawn. Either way the graph's
  /// label says so.
  XG_ARG(std::size_t, max_nodes) = 3000;
  /// Graphviz rankdir: "TB" (inputs at the top), "BT", "LR" or "RL".
  XG_ARG(std::string, rankdir) = "TB";
  /// Title shown above the graph (empty: none).
  XG_ARG(std::string, title);
};

/// How render lays out and writes a picture.
struct RenderOptions {
  /// PNG resolution in dots per inch.
  XG_ARG(double, dpi) = 96;
  /// Largest PNG width and height in pixels: a larger drawing is scaled down to fit.
  XG_ARG(std::size_t, max_pixels) = 4000;
  /// Smallest PNG scale accepted: a drawing that must shrink more than this to fit max_pixels
  /// would be unreadable, and render refuses it (write .svg instead, or draw fewer nodes).
  XG_ARG(double, min_scale) = 0.4;
  /// Largest graph render() lays out (nodes); a larger one is refused (the layout would take
  /// minutes). to_dot's max_nodes keeps its graphs below it.
  XG_ARG(std::size_t, max_nodes) = 10000;
  /// Largest graph render() lays out (edges), for the same reason.
  XG_ARG(std::size_t, max_edges) = 50000;
  /// Largest DOT text render() parses (bytes); a longer one is refused before Graphviz sees it.
  XG_ARG(std::size_t, max_bytes) = std::size_t{64} << 20;
};

/// Graphviz DOT of the graph behind `outputs` (one node per recorded op with its output's shape
/// and dtype, one per leaf, one per output; see GraphOptions). Walks the graph iteratively;
/// nodes are declared in topological order (inputs first). Throws for an undefined output.
std::string to_dot(const std::vector<Tensor>& outputs, const GraphOptions& options = {});

/// Lays out `dot` with Graphviz's dot engine and writes `path`, the format chosen by its
/// extension: .svg, .png, .pdf, or .dot/.gv (the text itself, syntax-checked). The file is
/// written atomically (temporary file, then rename). Throws std::invalid_argument for a DOT
/// syntax error (with Graphviz's message), a NUL byte in the text, an unknown extension, a text
/// longer than RenderOptions::max_bytes, a graph above max_nodes or max_edges, or a PNG that would
/// be scaled below min_scale, and std::runtime_error for an unwritable path or a failed layout.
/// Thread-safe (calls into Graphviz are serialized).
void render(const std::string& dot, const std::string& path, const RenderOptions& options = {});

/// render(to_dot(outputs, graph), path, options).
void render(const std::vector<Tensor>& outputs, const std::string& path,
            const GraphOptions& graph = {}, const RenderOptions& options = {});

}  // namespace xg::viz
