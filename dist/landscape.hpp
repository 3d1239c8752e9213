#pragma once
// Landscape grids over the ranks of an MPI job. viz stays MPI-free: its grid functions take a
// viz::Partition (EvalOptions::partition, CurvatureMapOptions::partition), and this header
// gives the job's, plus drop-in twins of viz::evaluate_grid and viz::curvature_ratio_map.
//
//   xg::dist::Environment env(argc, argv);            // mpirun -np N ./prog
//   viz::Grid g = xg::dist::evaluate_grid(make, *net, {dx, dy}, {viz::Axis("-1:1:51")}, data,
//                                         viz::EvalOptions().threads(1).csv("surface.csv"));
//   if (xg::dist::rank() == 0) viz::plot_contour(...);   // every rank holds the whole grid
//
// Each rank computes a contiguous slice of the points left to compute; the ranks exchange their
// results every few points (each rank returns the whole grid); rank 0 alone writes the CSV and
// JSON (rows appended as they arrive, sorted when complete) and shows the progress. The values,
// and so the CSV bytes, equal a single process's: every point is evaluated the same way
// wherever it runs. An interrupted run resumes from its CSV with any number of ranks. A rank
// that fails inside the grid makes every rank throw, naming it ("rank 1 of 3 failed: ...").
#include <memory>
#include <string>
#include <vector>

#include "viz/hessian.hpp"
#include "viz/landscape.hpp"
#include "viz/partition.hpp"

namespace xg::dist {

/// The MPI job as a viz::Partition: part = rank(), parts = world_size() (a world of one without
/// mpirun). Its all_gather is a collective over every rank.
std::shared_ptr<viz::Partition> grid_partition();

/// viz::evaluate_grid with its points shared by the ranks (options.partition() set to
/// grid_partition() unless the caller set one). Every rank must call it with the same
/// arguments; every rank returns the whole grid; only rank 0 writes files and progress.
viz::Grid evaluate_grid(const viz::ModelFactory& factory, const nn::Module& base,
                        const std::vector<viz::Direction>& directions,
                        const std::vector<viz::Axis>& axes, const nn::Dataset& data,
                        const viz::EvalOptions& options = {});

/// viz::curvature_ratio_map with its points shared by the ranks (as evaluate_grid); rank 0
/// alone writes `csv_path` and the progress, every rank returns the whole map.
std::vector<viz::CurvaturePoint> curvature_ratio_map(
    const viz::LossFn& loss, const viz::NamedTensors& params, const viz::NamedTensors& d,
    const viz::NamedTensors& e, const std::vector<double>& xs, const std::vector<double>& ys,
    const std::string& csv_path, const viz::CurvatureMapOptions& options = {});

}  // namespace xg::dist
