// DataLoader: per-epoch seeded order, batch gathering, and the prefetch thread.
#include "nn/dataloader.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <limits>
#include <mutex>
#include <numeric>
#include <thread>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"
#include "nn/sampler.hpp"

namespace xg::nn {

/// One epoch: its order, where it is, the current batch, and the prefetch worker if any.
struct DataLoader::State {
  std::shared_ptr<const Dataset> dataset;
  std::vector<std::size_t> order;
  std::size_t batch_size = 1;
  std::size_t num_batches = 0;
  std::size_t current = 0;  // index of the batch in `batch`
  bool done = false;
  Batch batch;
  std::vector<std::size_t> indices;  // reused index buffer (consumer side)

  // prefetch
  bool prefetch = false;
  std::thread worker;
  std::mutex mutex;
  std::condition_variable cv;
  bool slot_full = false;
  bool stop = false;
  Batch slot;
  std::exception_ptr error;

  ~State() { stop_worker(); }

  /// Examples of batch b (into `out`).
  void indices_of(std::size_t b, std::vector<std::size_t>& out) const {
    const std::size_t begin = b * batch_size;
    const std::size_t end = std::min(order.size(), begin + batch_size);
    out.assign(order.begin() + static_cast<std::ptrdiff_t>(begin),
               order.begin() + static_cast<std::ptrdiff_t>(end));
  }

  Batch build(std::size_t b, std::vector<std::size_t>& buffer) const {
    indices_of(b, buffer);
    Batch out;
    dataset->get_batch(buffer, out.data, out.target);
    XG_CHECK(out.data.defined() && out.target.defined(),
             "DataLoader: the dataset's get_batch left the data or target undefined");
    XG_CHECK(out.data.dim() >= 1 && out.target.dim() >= 1 && out.data.shape()[0] == buffer.size() &&
                 out.target.shape()[0] == buffer.size(),
             "DataLoader: the dataset's get_batch gave data ", out.data.shape(), " and target ",
             out.target.shape(), " for a batch of ", buffer.size(), " examples");
    return out;
  }

  void start_worker() {
    worker = std::thread([this] {
      std::vector<std::size_t> buffer;
      for (std::size_t b = 0; b < num_batches; ++b) {
        Batch next;
        std::exception_ptr err;
        try {
          next = build(b, buffer);
        } catch (...) {
          err = std::current_exception();
        }
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return !slot_full || stop; });
        if (stop) return;
        slot = std::move(next);
        error = err;
        slot_full = true;
        cv.notify_all();
        if (err) return;
      }
    });
  }

  void stop_worker() {
    if (!worker.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    cv.notify_all();
    worker.join();
  }

  /// Loads batch `b` into `batch` (from the worker when prefetching).
  void load(std::size_t b) {
    current = b;
    if (!prefetch) {
      batch = build(b, indices);
      return;
    }
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [&] { return slot_full; });
    batch = std::move(slot);
    slot = Batch();
    slot_full = false;
    std::exception_ptr err = error;
    lock.unlock();
    cv.notify_all();
    if (err) {
      done = true;
      std::rethrow_exception(err);
    }
  }

  void advance() {
    if (done) return;
    if (current + 1 >= num_batches) {
      done = true;
      batch = Batch();
      stop_worker();
      return;
    }
    try {
      load(current + 1);
    } catch (...) {
      done = true;
      throw;
    }
  }
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, const DataLoaderOptions& options)
    : dataset_(std::move(dataset)), options_(options) {
  XG_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  XG_CHECK(options_.batch_size() > 0, "DataLoader: batch_size must be > 0, got 0");
  XG_CHECK(!(options_.sampler() && options_.shuffle()),
           "DataLoader: sampler option is mutually exclusive with shuffle (the sampler gives the "
           "order; shuffle it there, e.g. DistributedSamplerOptions().shuffle(true))");
  if (options_.seed()) {
    seed_ = *options_.seed();
  } else {
    // Two 31-bit draws make a 62-bit seed from the global generator (manual_seed controls it).
    Tensor r = randint(0, int64_t{1} << 31, {2}, Dtype::int64);
    const int64_t* p = r.data_ptr<int64_t>();
    seed_ = (static_cast<uint64_t>(p[0]) << 31) | static_cast<uint64_t>(p[1]);
  }
}

DataLoader::~DataLoader() = default;
DataLoader::DataLoader(DataLoader&&) noexcept = default;
DataLoader& DataLoader::operator=(DataLoader&&) noexcept = default;

std::size_t DataLoader::size() const {
  const std::size_t n = options_.sampler() ? options_.sampler()->size() : dataset_->size();
  const std::size_t b = options_.batch_size();
  return options_.drop_last() ? n / b : n / b + (n % b != 0);
}

std::vector<std::size_t> DataLoader::order(uint64_t epoch) const {
  if (const std::shared_ptr<Sampler>& sampler = options_.sampler()) {
    std::vector<std::size_t> order = sampler->indices(static_cast<std::size_t>(epoch));
    XG_CHECK(order.size() == sampler->size(), "DataLoader: the sampler gave ", order.size(),
             " indices for epoch ", epoch, " but its size() is ", sampler->size());
    const std::size_t n = dataset_->size();
    for (std::size_t i : order)
      XG_CHECK(i < n, "DataLoader: the sampler gave index ", i, " for a dataset of ", n,
               " examples (epoch ", epoch, ")");
    return order;
  }
  if (options_.shuffle()) return permutation(dataset_->size(), seed_, epoch);
  std::vector<std::size_t> order(dataset_->size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  return order;
}

DataLoader::Iterator DataLoader::begin() {
  auto state = std::make_shared<State>();
  state->dataset = dataset_;
  state->order = order(epoch_++);
  state->batch_size = options_.batch_size();
  state->num_batches = size();
  state->prefetch = options_.prefetch();
  if (state->num_batches == 0) {
    state->done = true;
    return Iterator(std::move(state));
  }
  if (state->prefetch) state->start_worker();
  state->load(0);
  return Iterator(std::move(state));
}

bool DataLoader::Iterator::at_end() const { return !state_ || state_->done; }

Batch& DataLoader::Iterator::operator*() const {
  XG_CHECK(!at_end(), "DataLoader: dereferencing an iterator past the last batch");
  return state_->batch;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  XG_CHECK(!at_end(), "DataLoader: incrementing an iterator past the last batch");
  state_->advance();
  return *this;
}

bool DataLoader::Iterator::operator==(const Iterator& other) const {
  if (at_end() || other.at_end()) return at_end() && other.at_end();
  return state_ == other.state_;
}

}  // namespace xg::nn
