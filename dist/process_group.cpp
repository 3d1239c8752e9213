// Processes and collectives on Open MPI (declarations and semantics in dist/process_group.hpp).
#include "dist/process_group.hpp"

#include <mpi.h>

#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"

namespace xg::dist {
namespace {

bool g_owned = false;  // MPI was started by init(), so finalize() ends it
std::mutex g_mpi;      // MPI runs at MPI_THREAD_SERIALIZED: one call at a time

/// Throws std::runtime_error "op: MPI error on rank R: <MPI's text>" unless rc is MPI_SUCCESS.
void check(int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  std::ostringstream s;
  s << op << ": MPI error on rank " << rank() << ": " << std::string(text, len);
  throw std::runtime_error(s.str());
}

MPI_Datatype mpi_type(const Tensor& t, const char* op) {
  XG_CHECK(t.defined(), op, ": undefined tensor");
  switch (t.dtype()) {
    case Dtype::float32:
      return MPI_FLOAT;
    case Dtype::float64:
      return MPI_DOUBLE;
    case Dtype::int64:
      return MPI_INT64_T;
  }
  fail(op, ": unsupported dtype");
}

void* raw(const Tensor& t) {
  switch (t.dtype()) {
    case Dtype::float32:
      return t.data_ptr<float>();
    case Dtype::float64:
      return t.data_ptr<double>();
    case Dtype::int64:
      return t.data_ptr<int64_t>();
  }
  return nullptr;
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::Max ? MPI_MAX : MPI_SUM; }

/// Divides by the world size for Mean (after the sum arrived).
void finish_mean(Tensor& t, ReduceOp op) {
  if (op != ReduceOp::Mean) return;
  const int n = world_size();
  if (t.dtype() == Dtype::float32) {
    float* p = t.data_ptr<float>();
    for (std::size_t i = 0; i < t.numel(); ++i) p[i] /= static_cast<float>(n);
  } else {
    double* p = t.data_ptr<double>();
    for (std::size_t i = 0; i < t.numel(); ++i) p[i] /= static_cast<double>(n);
  }
}

void check_reduce_dtype(const Tensor& t, ReduceOp op, const char* name) {
  XG_CHECK(!(t.dtype() == Dtype::int64 && op == ReduceOp::Mean), name,
           ": ReduceOp::Mean needs a float32 or float64 tensor, got int64 ", t.shape());
}

/// Every rank's (numel, dtype) must agree: a collective over different sizes would read past a
/// buffer or hang. Throws on every rank, naming this rank's shape and the other sizes seen.
void check_same_layout(const Tensor& t, const char* op) {
  int64_t mine[4] = {static_cast<int64_t>(t.numel()), static_cast<int64_t>(t.dtype()),
                     -static_cast<int64_t>(t.numel()), -static_cast<int64_t>(t.dtype())};
  int64_t all[4];
  check(MPI_Allreduce(mine, all, 4, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), op);
  if (all[0] != -all[2] || all[1] != -all[3])
    fail(op, ": the ranks' tensors differ: rank ", rank(), " has ", dtype_name(t.dtype()), " ",
         t.shape(), " (", t.numel(), " elements); across the ranks: ", -all[2], " to ", all[0],
         " elements, dtype codes ", -all[3], " to ", all[1]);
}

class MpiWork : public Work {
 public:
  MpiWork(Tensor t, ReduceOp op, MPI_Request req) : t_(std::move(t)), op_(op), req_(req) {}
  ~MpiWork() override {
    if (!done_) {  // never leave MPI writing into a freed buffer
      try {
        wait();
      } catch (...) {
      }
    }
  }
  void wait() override {
    if (done_) return;
    {
      std::lock_guard<std::mutex> lock(g_mpi);
      check(MPI_Wait(&req_, MPI_STATUS_IGNORE), "all_reduce_async");
    }
    complete();
  }
  bool is_completed() override {
    if (done_) return true;
    int flag = 0;
    {
      std::lock_guard<std::mutex> lock(g_mpi);
      check(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE), "all_reduce_async");
    }
    if (flag) complete();
    return done_;
  }

 private:
  void complete() {
    done_ = true;
    finish_mean(t_, op_);
    bump_version(t_);
  }
  Tensor t_;
  ReduceOp op_;
  MPI_Request req_;
  bool done_ = false;
};

}  // namespace

void init(int* argc, char*** argv) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) throw std::runtime_error("dist::init: MPI was already finalized in this process");
  if (initialized) return;
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "dist::init");
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    throw std::runtime_error(
        "dist::init: this MPI cannot be called from more than one thread (needs "
        "MPI_THREAD_SERIALIZED)");
  }
  // Errors come back as return codes (turned into exceptions), not an abort inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  g_owned = true;
}

void finalize() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!g_owned || !initialized || finalized) return;
  MPI_Finalize();
  g_owned = false;
}

bool is_initialized() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

Environment::Environment() { init(); }
Environment::Environment(int& argc, char**& argv) { init(&argc, &argv); }
Environment::~Environment() { finalize(); }

int rank() {
  if (!is_initialized()) return 0;
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  if (!is_initialized()) return 1;
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

void barrier() {
  if (!is_initialized()) return;
  std::lock_guard<std::mutex> lock(g_mpi);
  check(MPI_Barrier(MPI_COMM_WORLD), "barrier");
}

void broadcast(Tensor& tensor, int src) {
  const MPI_Datatype type = mpi_type(tensor, "broadcast");
  XG_CHECK(src >= 0 && src < world_size(), "broadcast: src rank ", src, " is not in 0..",
           world_size() - 1);
  if (!is_initialized()) return;
  std::lock_guard<std::mutex> lock(g_mpi);
  check_same_layout(tensor, "broadcast");
  check(MPI_Bcast(raw(tensor), static_cast<int>(tensor.numel()), type, src, MPI_COMM_WORLD),
        "broadcast");
  bump_version(tensor);
}

void all_reduce(Tensor& tensor, ReduceOp op) {
  const MPI_Datatype type = mpi_type(tensor, "all_reduce");
  check_reduce_dtype(tensor, op, "all_reduce");
  if (!is_initialized()) return;
  {
    std::lock_guard<std::mutex> lock(g_mpi);
    check_same_layout(tensor, "all_reduce");
    check(MPI_Allreduce(MPI_IN_PLACE, raw(tensor), static_cast<int>(tensor.numel()), type,
                        mpi_op(op), MPI_COMM_WORLD),
          "all_reduce");
  }
  finish_mean(tensor, op);
  bump_version(tensor);
}

std::vector<Tensor> all_gather(const Tensor& tensor) {
  const MPI_Datatype type = mpi_type(tensor, "all_gather");
  if (!is_initialized()) return {tensor.detach().clone()};
  const int n = world_size();
  const std::size_t count = tensor.numel();
  Shape all_shape{static_cast<std::size_t>(n)};
  all_shape.insert(all_shape.end(), tensor.shape().begin(), tensor.shape().end());
  Tensor all = empty(all_shape, tensor.dtype());
  {
    std::lock_guard<std::mutex> lock(g_mpi);
    check_same_layout(tensor, "all_gather");
    check(MPI_Allgather(raw(tensor), static_cast<int>(count), type, raw(all),
                        static_cast<int>(count), type, MPI_COMM_WORLD),
          "all_gather");
  }
  std::vector<Tensor> out;
  for (int r = 0; r < n; ++r) out.push_back(all.select(0, r).clone());
  return out;
}

std::shared_ptr<Work> all_reduce_async(Tensor& tensor, ReduceOp op) {
  const MPI_Datatype type = mpi_type(tensor, "all_reduce_async");
  check_reduce_dtype(tensor, op, "all_reduce_async");
  MPI_Request req = MPI_REQUEST_NULL;
  if (is_initialized()) {
    std::lock_guard<std::mutex> lock(g_mpi);
    check(MPI_Iallreduce(MPI_IN_PLACE, raw(tensor), static_cast<int>(tensor.numel()), type,
                         mpi_op(op), MPI_COMM_WORLD, &req),
          "all_reduce_async");
  }
  return std::make_shared<MpiWork>(tensor, op, req);
}

}  // namespace xg::dist
