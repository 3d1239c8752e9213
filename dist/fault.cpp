// Faults in an MPI job: MPI_Abort and the run() wrapper.
#include "dist/fault.hpp"

#include <mpi.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>

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
    const int status = main_fn();
    if (status == 0) return 0;
    // A rank leaving with an error while others may wait for it in a collective: its
    // MPI_Finalize would wait for them too, and the job would hang. End it instead.
    what = "exited with status " + std::to_string(status);
    std::ostringstream line;
    line << "rank " << rank() << ": " << what << "\n";
    std::cerr << line.str() << std::flush;
    abort(status);
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
