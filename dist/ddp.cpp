// DistributedDataParallel (declarations and semantics in dist/ddp.hpp): the start-up check, the
// broadcast from rank 0, and the Reducer that averages gradients in buckets during backward.
#include "dist/ddp.hpp"

#include <cstring>
#include <sstream>

#include "autograd/engine.hpp"
#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "dist/process_group.hpp"

namespace xg::dist {
namespace {

/// Raw bytes of a tensor's contiguous buffer.
char* bytes(const Tensor& t) {
  switch (t.dtype()) {
    case Dtype::float32:
      return reinterpret_cast<char*>(t.data_ptr<float>());
    case Dtype::float64:
      return reinterpret_cast<char*>(t.data_ptr<double>());
    case Dtype::int64:
      return reinterpret_cast<char*>(t.data_ptr<int64_t>());
  }
  return nullptr;
}

// ---- the start-up check ----

/// One line of a model's fingerprint: a parameter, a buffer or an option.
struct Entry {
  std::string kind;   // "parameter", "buffer", "option"
  std::string name;   // "fc1.weight", "bucket_cap_mb"
  std::string value;  // "[128, 784] float64", "25"
};

std::vector<Entry> fingerprint(const nn::Module& m, const DistributedDataParallelOptions& o) {
  std::vector<Entry> out;
  auto add = [&out](const char* kind, const nn::NamedTensors& ts) {
    for (const auto& [name, t] : ts)
      out.push_back({kind, name, shape_str(t.shape()) + " " + dtype_name(t.dtype())});
  };
  add("parameter", m.named_parameters());
  add("buffer", m.named_buffers());
  std::ostringstream cap;
  cap.precision(17);
  cap << o.bucket_cap_mb();
  out.push_back({"option", "bucket_cap_mb", cap.str()});
  out.push_back({"option", "broadcast_buffers", o.broadcast_buffers() ? "true" : "false"});
  return out;
}

std::string encode(const std::vector<Entry>& entries) {
  std::string s;
  for (const Entry& e : entries) s += e.kind + '\t' + e.name + '\t' + e.value + '\n';
  return s;
}

std::vector<Entry> decode(const std::string& s) {
  std::vector<Entry> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    const auto a = line.find('\t'), b = line.find('\t', a + 1);
    out.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return out;
}

/// Every rank's string (all_gather of the bytes, padded to the longest).
std::vector<std::string> gather_strings(const std::string& mine) {
  Tensor len = full({1}, static_cast<double>(mine.size()), Dtype::int64);
  all_reduce(len, ReduceOp::Max);
  const auto n = static_cast<std::size_t>(len.item<int64_t>());
  Tensor buf = zeros({n + 1}, Dtype::int64);  // +1: never empty; 0 ends a shorter string
  int64_t* p = buf.data_ptr<int64_t>();
  for (std::size_t i = 0; i < mine.size(); ++i) p[i] = static_cast<unsigned char>(mine[i]);
  std::vector<std::string> out;
  for (const Tensor& t : all_gather(buf)) {
    std::string s;
    const int64_t* q = t.data_ptr<int64_t>();
    for (std::size_t i = 0; i < n && q[i] != 0; ++i) s += static_cast<char>(q[i]);
    out.push_back(std::move(s));
  }
  return out;
}

/// What differs first between rank r's fingerprint and rank 0's ("" if nothing).
std::string first_difference(int r, const std::vector<Entry>& mine, const std::vector<Entry>& ref) {
  std::ostringstream s;
  const std::size_t n = std::min(mine.size(), ref.size());
  for (std::size_t i = 0; i < n; ++i) {
    const Entry &a = mine[i], &b = ref[i];
    if (a.kind == b.kind && a.name == b.name) {
      if (a.value == b.value) continue;
      s << "rank " << r << "'s " << a.kind << " " << a.name << " is " << a.value << ", rank 0's is "
        << b.value;
    } else {
      s << "rank " << r << "'s " << a.kind << " " << i << " is " << a.name << " " << a.value
        << ", rank 0's is " << b.kind << " " << b.name << " " << b.value;
    }
    return s.str();
  }
  if (mine.size() == ref.size()) return "";
  const bool longer = mine.size() > ref.size();
  const Entry& extra = longer ? mine[n] : ref[n];
  s << "rank " << r << " has " << (longer ? "an extra " : "no ") << extra.kind << " " << extra.name
    << " " << extra.value << (longer ? " that rank 0 has not" : ", rank 0 has");
  return s.str();
}

/// Throws on every rank if any rank's model or options differ from rank 0's.
void check_same_model(const nn::Module& m, const DistributedDataParallelOptions& o) {
  const std::vector<std::string> all = gather_strings(encode(fingerprint(m, o)));
  const std::vector<Entry> ref = decode(all[0]);
  for (std::size_t r = 1; r < all.size(); ++r)
    if (std::string d = first_difference(static_cast<int>(r), decode(all[r]), ref); !d.empty())
      fail("DistributedDataParallel: the ranks wrap different models or options: ", d,
           " (every rank must build the same model with the same options)");
}

/// Copies rank 0's values of `tensors` to every rank, one broadcast per dtype (coalesced).
void broadcast_coalesced(const TensorList& tensors) {
  for (Dtype d : {Dtype::float32, Dtype::float64, Dtype::int64}) {
    std::size_t total = 0;
    for (const Tensor& t : tensors)
      if (t.dtype() == d) total += t.numel();
    if (total == 0) continue;
    Tensor flat = empty({total}, d);
    char* p = bytes(flat);
    const std::size_t es = element_size(d);
    for (const Tensor& t : tensors)
      if (t.dtype() == d) {
        std::memcpy(p, bytes(t), t.numel() * es);
        p += t.numel() * es;
      }
    broadcast(flat, 0);
    p = bytes(flat);
    for (const Tensor& t : tensors)
      if (t.dtype() == d) {
        std::memcpy(bytes(t), p, t.numel() * es);
        p += t.numel() * es;
        bump_version(t);
      }
  }
}

}  // namespace

// ---- the reducer ----

/// The buckets and the state of the backward pass in flight.
struct DistributedDataParallel::Reducer {
  struct Bucket {
    std::vector<std::size_t> params;   // indices into `params`, in buffer order
    std::vector<std::size_t> offsets;  // element offset of each in `flat`
    Tensor flat;                       // one contiguous buffer, allreduced in place
    std::size_t pending = 0;           // gradients not yet ready in this pass
    std::shared_ptr<Work> work;        // the allreduce in flight
  };

  TensorList params;
  std::vector<std::string> names;
  std::vector<Bucket> buckets;
  std::vector<std::size_t> bucket_of;  // parameter index -> bucket
  bool sync = true;                    // false inside no_sync()
  bool in_pass = false;                // a pass has marked gradients ready; its callback is queued
  std::vector<char> ready;             // per parameter, in this pass
  std::size_t next_bucket = 0;         // buckets start in index order on every rank

  Reducer(const nn::NamedTensors& named, double cap_mb) {
    for (const auto& [name, p] : named) {
      names.push_back(name);
      params.push_back(p);
    }
    bucket_of.assign(params.size(), 0);
    const double cap_bytes = cap_mb * 1024.0 * 1024.0;
    double filled = 0;
    for (std::size_t k = params.size(); k-- > 0;) {  // gradients arrive roughly in this order
      const Tensor& p = params[k];
      if (buckets.empty() || filled >= cap_bytes ||
          buckets.back().flat.dtype() != p.dtype()) {  // one dtype per bucket
        buckets.emplace_back();
        buckets.back().flat = empty({0}, p.dtype());
        filled = 0;
      }
      Bucket& b = buckets.back();
      b.offsets.push_back(b.params.empty() ? 0
                                           : b.offsets.back() + params[b.params.back()].numel());
      b.params.push_back(k);
      bucket_of[k] = buckets.size() - 1;
      filled += static_cast<double>(p.numel() * element_size(p.dtype()));
    }
    for (Bucket& b : buckets)
      b.flat = zeros({b.offsets.back() + params[b.params.back()].numel()}, b.flat.dtype());
    ready.assign(params.size(), 0);
  }

  /// Ends a pass that never finished (backward threw): waits for what is in flight.
  void reset() {
    for (Bucket& b : buckets)
      if (b.work) {
        b.work->wait();
        b.work.reset();
      }
    start_pass();
    in_pass = false;
  }

  void start_pass() {
    std::fill(ready.begin(), ready.end(), 0);
    for (Bucket& b : buckets) b.pending = b.params.size();
    next_bucket = 0;
  }

  /// The post-accumulate hook of parameter k.
  void mark_ready(std::size_t k, const std::weak_ptr<Reducer>& self) {
    if (!sync) return;
    if (!in_pass) {
      start_pass();
      in_pass = true;
      queue_callback([self] {
        if (auto r = self.lock()) r->finish();
      });
    }
    if (ready[k])
      fail("DistributedDataParallel: parameter ", names[k], " ", params[k].shape(),
           " got a gradient twice in one backward pass on rank ", rank());
    ready[k] = 1;
    --buckets[bucket_of[k]].pending;
    while (next_bucket < buckets.size() && buckets[next_bucket].pending == 0)
      launch(buckets[next_bucket++]);
    for (std::size_t i = 0; i < next_bucket; ++i)  // lets MPI progress the earlier ones
      if (buckets[i].work) buckets[i].work->is_completed();
  }

  /// Copies the bucket's gradients (zeros for a parameter without one) into its buffer and
  /// starts its allreduce.
  void launch(Bucket& b) {
    NoGradGuard no_grad;
    char* flat = bytes(b.flat);
    const std::size_t es = element_size(b.flat.dtype());
    for (std::size_t j = 0; j < b.params.size(); ++j) {
      const Tensor& p = params[b.params[j]];
      const Tensor g = p.grad();
      char* dst = flat + b.offsets[j] * es;
      if (g.defined())
        std::memcpy(dst, bytes(g), p.numel() * es);
      else
        std::memset(dst, 0, p.numel() * es);
    }
    b.work = all_reduce_async(b.flat, ReduceOp::Mean);
  }

  /// End of the pass: starts what is left (parameters without a gradient), waits for every
  /// bucket and writes the means into grad().
  void finish() {
    in_pass = false;
    while (next_bucket < buckets.size()) launch(buckets[next_bucket++]);
    NoGradGuard no_grad;
    for (Bucket& b : buckets) {
      b.work->wait();
      b.work.reset();
      const char* flat = bytes(b.flat);
      const std::size_t es = element_size(b.flat.dtype());
      for (std::size_t j = 0; j < b.params.size(); ++j) {
        const Tensor& p = params[b.params[j]];
        Tensor g = p.grad();
        if (!g.defined()) {
          g = empty(p.shape(), p.dtype());
          p.set_grad(g);
        }
        std::memcpy(bytes(g), flat + b.offsets[j] * es, p.numel() * es);
        bump_version(g);
      }
    }
  }
};

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 const DistributedDataParallelOptions& options)
    : Module("DistributedDataParallel"), module_(std::move(module)), options_(options) {
  XG_CHECK(module_ != nullptr, "DistributedDataParallel: the module is null");
  XG_CHECK(options_.bucket_cap_mb() > 0, "DistributedDataParallel: bucket_cap_mb must be > 0, got ",
           options_.bucket_cap_mb());
  register_module("module", module_);
  check_same_model(*module_, options_);
  {
    NoGradGuard no_grad;
    TensorList all = module_->parameters();
    for (const Tensor& b : module_->buffers()) all.push_back(b);
    broadcast_coalesced(all);
  }
  const nn::NamedTensors named = module_->named_parameters();
  for (const auto& [name, p] : named)
    XG_CHECK(p.dtype() != Dtype::int64, "DistributedDataParallel: parameter ", name,
             " is int64; only float32 and float64 parameters can be averaged");
  reducer_ = std::make_shared<Reducer>(named, options_.bucket_cap_mb());
  if (world_size() == 1 && !is_initialized()) return;  // a world of one: nothing to average
  const std::weak_ptr<Reducer> weak = reducer_;
  for (std::size_t k = 0; k < reducer_->params.size(); ++k)
    reducer_->params[k].register_post_accumulate_grad_hook([weak, k](const Tensor&) {
      if (auto r = weak.lock()) r->mark_ready(k, weak);
    });
}

DistributedDataParallel::~DistributedDataParallel() = default;

Tensor DistributedDataParallel::forward(const Tensor& input) {
  if (reducer_->in_pass) reducer_->reset();  // the last backward threw before its end
  if (options_.broadcast_buffers() && is_training() && world_size() > 1) {
    NoGradGuard no_grad;
    const TensorList buffers = module_->buffers();
    if (!buffers.empty()) broadcast_coalesced(buffers);
  }
  return (*module_)(input);
}

std::vector<std::vector<std::size_t>> DistributedDataParallel::bucket_assignment() const {
  std::vector<std::vector<std::size_t>> out;
  for (const auto& b : reducer_->buckets) out.push_back(b.params);
  return out;
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(DistributedDataParallel& ddp)
    : ddp_(&ddp), previous_(ddp.reducer_->sync) {
  ddp.reducer_->sync = false;
}
DistributedDataParallel::NoSyncGuard::~NoSyncGuard() {
  if (ddp_) ddp_->reducer_->sync = previous_;
}
DistributedDataParallel::NoSyncGuard::NoSyncGuard(NoSyncGuard&& other) noexcept
    : ddp_(other.ddp_), previous_(other.previous_) {
  other.ddp_ = nullptr;
}

DistributedDataParallel::NoSyncGuard DistributedDataParallel::no_sync() {
  return NoSyncGuard(*this);
}

std::string DistributedDataParallel::extra_repr() const {
  std::ostringstream s;
  s << "world_size=" << world_size() << ", bucket_cap_mb=" << options_.bucket_cap_mb()
    << ", buckets=" << reducer_->buckets.size()
    << ", broadcast_buffers=" << (options_.broadcast_buffers() ? "true" : "false");
  return s.str();
}

}  // namespace xg::dist
