#pragma once
// xgrad's distributed part (target xgrad_dist, built when Open MPI is found): processes,
// collectives, DistributedDataParallel, distributed landscape grids.
#include "dist/fault.hpp"
#include "dist/landscape.hpp"
#include "dist/process_group.hpp"
#include "dist/ddp.hpp"
