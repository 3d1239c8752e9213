#pragma once
// xg::viz: computation graphs to DOT/SVG/PNG/PDF, loss landscapes (1D, 2D, trajectories),
// curvature (Hessian spectra) and plots.
#include "viz/landscape.hpp"
