// Collectives on tensors against hand-computed results (run under mpirun -np 2 and -np 3).
#include <doctest/doctest.h>

#include "autograd/autograd.hpp"
#include "dist/dist.hpp"

using namespace xg;

TEST_CASE("dist: all_reduce sum, mean, max and broadcast, all_gather, float32 and float64") {
  const int r = dist::rank(), n = dist::world_size();
  for (Dtype dt : {Dtype::float32, Dtype::float64}) {
    // rank r holds (r + 1) * [1, 2, 3]: the sum is n (n + 1) / 2 * [1, 2, 3].
    Tensor base = tensor({1.0, 2.0, 3.0}).to(dt);
    Tensor s = mul(base, static_cast<double>(r + 1)).detach();
    dist::all_reduce(s, dist::ReduceOp::Sum);
    const double tri = n * (n + 1) / 2.0;
    CHECK(s.to_vector<double>() == std::vector<double>{tri, 2 * tri, 3 * tri});
    Tensor m = mul(base, static_cast<double>(r + 1)).detach();
    dist::all_reduce(m, dist::ReduceOp::Mean);
    CHECK(m.to_vector<double>()[2] == doctest::Approx(3 * tri / n));
    Tensor x = mul(base, static_cast<double>(r % 2 ? -r : r)).detach();
    dist::all_reduce(x, dist::ReduceOp::Max);
    const int best = (n - 1) % 2 ? n - 2 : n - 1;  // the largest even rank
    CHECK(x.to_vector<double>()[0] == static_cast<double>(best));
    Tensor b = full({2, 2}, static_cast<double>(10 * r), dt);
    dist::broadcast(b, n - 1);
    CHECK(b.to_vector<double>() == std::vector<double>(4, 10.0 * (n - 1)));
    const auto g = dist::all_gather(full({3}, static_cast<double>(r), dt));
    REQUIRE(g.size() == static_cast<std::size_t>(n));
    for (int k = 0; k < n; ++k) CHECK(g[k].to_vector<double>() == std::vector<double>(3, k));
    Tensor a = full({5}, static_cast<double>(r), dt);
    auto work = dist::all_reduce_async(a, dist::ReduceOp::Mean);
    work->wait();
    CHECK(work->is_completed());
    CHECK(a.to_vector<double>()[4] == doctest::Approx((n - 1) / 2.0));
  }
}

TEST_CASE("dist: mismatched tensors across ranks are an error on every rank, not a hang") {
  const int r = dist::rank();
  Tensor t = zeros({static_cast<std::size_t>(r + 1)});
  CHECK_THROWS_WITH(dist::all_reduce(t),
                    doctest::Contains("all_reduce: the ranks' tensors differ"));
  Tensor i = zeros({2}, Dtype::int64);
  CHECK_THROWS_WITH(dist::all_reduce(i, dist::ReduceOp::Mean), doctest::Contains("int64"));
  CHECK_THROWS_WITH(dist::broadcast(i, dist::world_size()), doctest::Contains("src rank"));
}
