#pragma once
// Faults in an MPI job: one rank that fails must end the job, not leave the others waiting in a
// collective forever.
//
//   int main(int argc, char** argv) {
//     xg::dist::Environment env(argc, argv);
//     return xg::dist::run([&] { ...; return 0; });   // "rank 1: <what>" and the job ends
//   }
//
// Open MPI's mpirun already ends the job when a rank dies (killed by a signal, or exits nonzero
// without MPI_Finalize... once another rank is in a collective with it): it kills the others
// and reports the rank ("mpirun noticed that process rank 1 ... exited on signal 9"). An
// exception is not a death: the rank would go on to MPI_Finalize or wait in the next collective
// while the others wait for it. run() turns it into MPI_Abort, which ends every rank at once.
#include <functional>

namespace xg::dist {

/// Ends every process of the job now (MPI_Abort on the world) with exit status `code`; without
/// MPI initialized, std::exit(code). Never returns.
[[noreturn]] void abort(int code = 1);

/// Calls main_fn and returns its value. If it throws, prints "rank R: <what>" (R = rank()) on
/// stderr and abort(1)s the job, so the other ranks end within a moment instead of hanging.
int run(const std::function<int()>& main_fn);

}  // namespace xg::dist
