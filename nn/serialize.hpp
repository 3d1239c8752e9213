#pragma once
// Checkpoints in the safetensors format, so that Python tools (safetensors, numpy, torch) read
// what xgrad writes and the other way round.
//
// File layout (all integers little-endian):
//   u64 N                        length of the header in bytes
//   N bytes of UTF-8 JSON        starts with '{', padded with spaces so that N % 8 == 0:
//       {"__metadata__":{"key":"value",...},
//        "name":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}, ...}
//   the data                     each tensor's elements in C (row-major) order, little-endian,
//                                at [begin, end) counted from the end of the header
// dtypes: "F32" (float32), "F64" (float64), "I64" (int64, e.g. BatchNorm's num_batches_tracked).
//
// Writing is deterministic: entries sorted by name (byte-wise), data in the same order with no
// gaps, "__metadata__" first and only when non-empty, compact JSON with the fields in the order
// dtype, shape, data_offsets (as the safetensors library writes them). The same content
// gives the same bytes.
//
//   nn::save(*net, "net.safetensors", {{"epoch", "3"}});
//   nn::load(*net, "net.safetensors");                  // strict: every key, nothing extra
//   nn::Checkpoint ck = nn::load_file("net.safetensors"); // tensors + metadata, no module
#include <map>
#include <string>
#include <vector>

#include "nn/module.hpp"

namespace xg::nn {

/// Free-form string pairs stored in the header's "__metadata__" map (epoch, accuracy, ...).
using Metadata = std::map<std::string, std::string>;

/// What a checkpoint file holds: its tensors (sorted by name) and its metadata.
struct Checkpoint {
  NamedTensors tensors;
  Metadata metadata;
};

/// A tensor's description in a checkpoint header (no data).
struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::float32;
  Shape shape;
};

/// A checkpoint's header: tensor descriptions (sorted by name) and metadata.
struct CheckpointInfo {
  std::vector<TensorInfo> tensors;
  Metadata metadata;
};

/// Writes `tensors` to `path` atomically: a temporary file in the same folder is written,
/// synced and renamed over `path`, so `path` is either the old file or the complete new one.
/// Names must be unique, defined and not "__metadata__"; names and metadata must be valid UTF-8.
/// Throws std::invalid_argument for bad arguments and std::runtime_error for I/O errors, naming
/// the path; on any error no temporary file is left behind and an existing `path` is unchanged.
void save(const NamedTensors& tensors, const std::string& path, const Metadata& metadata = {});
/// Writes module.state_dict() (parameters and buffers with dotted names) to `path`, as above.
void save(const Module& module, const std::string& path, const Metadata& metadata = {});

/// Reads and validates the whole file at `path` (see load_file), then module.load_state_dict
/// (strict: every key present, none unexpected; shapes and dtypes must match). On any error the
/// module is unchanged and the message names the file.
void load(Module& module, const std::string& path, bool strict = true);

/// Reads a checkpoint. The header is validated before any tensor is allocated: its length (at
/// most 100,000,000 bytes and within the file), JSON syntax, duplicate keys, dtypes, shapes,
/// offsets that tile the data from 0 without holes or overlaps, sizes that match the shapes, and
/// 8 + N + data == file size. Throws std::runtime_error naming the file (and tensor).
Checkpoint load_file(const std::string& path);

/// Reads and validates only the header (no tensor data is read): tensor names, dtypes, shapes.
CheckpointInfo read_header(const std::string& path);

/// The header's metadata alone (the same validation as read_header).
Metadata read_metadata(const std::string& path);

}  // namespace xg::nn
