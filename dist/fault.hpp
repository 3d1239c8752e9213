#pragma once
// Faults in an MPI job: one rank that fails must end the job, not leave the others waiting in a
// collective forever.
//
//   int main(int argc, char** argv) {
//     xg::dist::Environment env(argc, argv);
//     return xg::dist::run([&] { ...; return 0; });   // "rank 1: <what>" and the job ends
//   }
//
// Open MPI's mpirun already ends the job when a rank dies (killed by a signal, or exits
// nonzero without MPI_Finalize): it kills the others and reports the rank ("mpirun noticed that
// process rank 1 ... exited on signal 9"), within a second or two here. An exception caught by
// main is not a death: the rank would go on to MPI_Finalize (the Environment's destructor) and
// wait there for ranks that wait for it in a collective, forever. run() turns it into
// MPI_Abort, which ends every rank at once.
#include <functional>

namespace xg::dist {

/// Ends every process of the job now (MPI_Abort on the world) with exit status `code`; without
/// MPI initialized, std::exit(code). Never returns.
[[noreturn]] void abort(int code = 1);

/// Calls main_fn and returns 0 when it returns 0. If it throws, prints "rank R: <what>" (R =
/// rank()) on stderr and abort(1)s the job, so the other ranks end within a moment instead of
/// hanging in a collective; if it returns a nonzero status S, prints "rank R: exited with status
/// S" and abort(S)s the job (a plain return would wait in MPI_Finalize for ranks that may be
/// waiting for it). A rank that returns 0 while the others still expect it in a collective is a
/// program error run() cannot see: every rank must call the same collectives.
int run(const std::function<int()>& main_fn);

}  // namespace xg::dist
