// Landscape grids over the ranks of an MPI job: viz::Partition on the tensor collectives.
#include "dist/landscape.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "dist/process_group.hpp"

namespace xg::dist {

namespace {

/// The world as a viz::Partition. Bytes travel as int64 words: the sizes first (one all_gather),
/// then every rank's bytes padded to the longest (a second one).
class WorldPartition : public viz::Partition {
 public:
  std::size_t part() const override { return static_cast<std::size_t>(rank()); }
  std::size_t parts() const override { return static_cast<std::size_t>(world_size()); }
  std::vector<std::string> all_gather(const std::string& bytes) override {
    if (world_size() == 1) return {bytes};
    const std::vector<Tensor> sizes =
        dist::all_gather(full({1}, static_cast<double>(bytes.size()), Dtype::int64));
    std::size_t longest = 0;
    for (const Tensor& s : sizes) longest = std::max(longest, std::size_t(s.item<int64_t>()));
    const std::size_t words = std::max<std::size_t>(1, (longest + 7) / 8);
    Tensor mine = zeros({words}, Dtype::int64);
    if (!bytes.empty()) std::memcpy(mine.data_ptr<int64_t>(), bytes.data(), bytes.size());
    const std::vector<Tensor> all = dist::all_gather(mine);
    std::vector<std::string> out(all.size());
    for (std::size_t r = 0; r < all.size(); ++r) {
      const auto n = static_cast<std::size_t>(sizes[r].item<int64_t>());
      out[r].assign(reinterpret_cast<const char*>(all[r].data_ptr<int64_t>()), n);
    }
    return out;
  }
};

}  // namespace

std::shared_ptr<viz::Partition> grid_partition() { return std::make_shared<WorldPartition>(); }

viz::Grid evaluate_grid(const viz::ModelFactory& factory, const nn::Module& base,
                        const std::vector<viz::Direction>& directions,
                        const std::vector<viz::Axis>& axes, const nn::Dataset& data,
                        const viz::EvalOptions& options) {
  viz::EvalOptions o = options;
  if (!o.partition()) o.partition(grid_partition());
  return viz::evaluate_grid(factory, base, directions, axes, data, o);
}

std::vector<viz::CurvaturePoint> curvature_ratio_map(
    const viz::LossFn& loss, const viz::NamedTensors& params, const viz::NamedTensors& d,
    const viz::NamedTensors& e, const std::vector<double>& xs, const std::vector<double>& ys,
    const std::string& csv_path, const viz::CurvatureMapOptions& options) {
  viz::CurvatureMapOptions o = options;
  if (!o.partition()) o.partition(grid_partition());
  return viz::curvature_ratio_map(loss, params, d, e, xs, ys, csv_path, o);
}

}  // namespace xg::dist
