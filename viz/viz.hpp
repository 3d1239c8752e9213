#pragma once
// xg::viz: computation graphs to DOT/SVG/PNG/PDF, loss landscapes (1D, 2D, trajectories),
// curvature (Hessian spectra) and plots.
#include "viz/hessian.hpp"
#include "viz/plot.hpp"
#include "viz/graph.hpp"
#include "viz/landscape.hpp"
