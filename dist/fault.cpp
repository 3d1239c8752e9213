// Faults in an MPI job: MPI_Abort and the run() wrapper.
#include "dist/fault.hpp"

#include <mpi.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>

#include "dist/process_group.hpp"

namespace xg::dist {

void abort(int code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

int run(const std::function<int()>& main_fn) {
  std::string what;
  try {
    return main_fn();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  std::ostringstream line;  // one write, so ranks' lines do not interleave
  line << "rank " << rank() << ": " << what << "\n";
  std::cerr << line.str() << std::flush;
  abort(1);
}

}  // namespace xg::dist
