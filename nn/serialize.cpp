// safetensors checkpoints: an atomic writer and a strict reader (format in nn/serialize.hpp).
#include "nn/serialize.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/extend.hpp"
#include "autograd/factory.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nn/serialize.cpp writes the host's bytes as little-endian data: port it to this host"
#endif

namespace xg::nn {

namespace {

using json = nlohmann::json;

/// Largest header the reader accepts (the safetensors library's limit).
constexpr std::uint64_t kMaxHeader = 100'000'000;

/// "\"path\"" for messages.
std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

[[noreturn]] void io_fail(const std::string& what) { throw std::runtime_error(what); }

std::string errno_text(int err) { return std::strerror(err); }

const char* dtype_code(Dtype d) {
  switch (d) {
    case Dtype::float32:
      return "F32";
    case Dtype::float64:
      return "F64";
    case Dtype::int64:
      return "I64";
  }
  return "?";
}

/// Closes a file descriptor on scope exit unless released.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// ---------------------------------------------------------------- writing

/// Writes all `n` bytes (retrying short writes and EINTR); returns 0 or an errno value.
int write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
    const ssize_t w = ::write(fd, p, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return 0;
}

/// The folder of `path` ("." when it has none) and its last component.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

/// The JSON text of a string (throws naming `what` for invalid UTF-8).
std::string json_string(const std::string& s, const std::string& where, const std::string& what) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    throw std::invalid_argument(where + ": " + what + " is not valid UTF-8");
  }
}

/// The header text (unpadded) for tensors sorted by name, and each tensor's byte count.
std::string make_header(const std::vector<std::pair<std::string, Tensor>>& sorted,
                        const Metadata& metadata, const std::string& where) {
  std::string h = "{";
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) {
      if (!first) h += ",";
      first = false;
      h += json_string(k, where, "metadata key " + in_quotes(k));
      h += ":";
      h += json_string(v, where, "the value of metadata key " + in_quotes(k));
    }
    h += "}";
  }
  std::size_t offset = 0;
  for (const auto& [name, t] : sorted) {
    const std::size_t bytes = checked_mul(where.c_str(), t.numel(), element_size(t.dtype()));
    const std::size_t end = checked_add(where.c_str(), offset, bytes);
    if (h.size() > 1) h += ",";
    h += json_string(name, where, "tensor name " + in_quotes(name));
    h += ":{\"dtype\":\"";
    h += dtype_code(t.dtype());
    h += "\",\"shape\":[";
    for (std::size_t i = 0; i < t.dim(); ++i) {
      if (i) h += ",";
      h += std::to_string(t.shape()[i]);
    }
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(end) + "]}";
    offset = end;
  }
  h += "}";
  return h;
}

/// Test-only fault injection: when the environment variable XGRAD_TEST_CRASH_AT names `stage`, the
/// process kills itself with SIGKILL there (tests/nn/test_crash_safety.cpp forks a child that
/// saves and checks what a crash at each stage leaves behind). Stages of nn::save, in order:
/// "created" (empty temporary file), "mid_data" (half of the first tensor written), "before_fsync",
/// "before_rename", "before_dir_fsync".
void crash_point(const char* stage) {
  const char* at = std::getenv("XGRAD_TEST_CRASH_AT");
  if (at != nullptr && std::strcmp(at, stage) == 0) ::raise(SIGKILL);
}

/// A name for the temporary file that no other writer (thread or process) picks.
std::string temp_name(const std::string& dir, const std::string& base, unsigned attempt) {
  static std::atomic<unsigned long> counter{0};
  const auto ticks =
      static_cast<unsigned long long>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::ostringstream os;
  os << dir << "/." << base << ".tmp-" << ::getpid() << "-" << counter++ << "-" << std::hex << ticks
     << "-" << attempt;
  return os.str();
}

// ---------------------------------------------------------------- reading

/// A parsed, validated tensor entry.
struct Entry {
  std::string name;
  Dtype dtype = Dtype::float32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

/// The validated header of an open file.
struct Header {
  std::vector<Entry> entries;  // sorted by name
  Metadata metadata;
};

/// Reads exactly `n` bytes at the current position; false at end of file.
bool read_all(int fd, char* p, std::size_t n, int& err) {
  err = 0;
  while (n > 0) {
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
    const ssize_t r = ::read(fd, p, chunk);
    if (r < 0) {
      if (errno == EINTR) continue;
      err = errno;
      return false;
    }
    if (r == 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

/// Dtypes of the safetensors format that xgrad does not hold.
bool is_other_safetensors_dtype(const std::string& s) {
  static const std::set<std::string> known{"BOOL",    "U8",  "I8",      "F8_E5M2", "F8_E4M3", "I16",
                                           "U16",     "F16", "BF16",    "I32",     "U32",     "U64",
                                           "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2"};
  return known.count(s) > 0;
}

/// Parses the header JSON, refusing duplicate keys at any level (nlohmann keeps the last one
/// silently).
json parse_header(const std::string& text, const std::string& where) {
  // A valid header nests 3 deep ({ -> { -> [); refuse deeper nesting before nlohmann builds a
  // tree of it (a 100 MB header of "[[[[..." would otherwise cost gigabytes).
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > 3)
        io_fail(where +
                ": the header nests deeper than a safetensors header can (at header offset " +
                std::to_string(i) + ")");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  std::vector<std::set<std::string>> keys;  // keys seen in each open object
  std::string duplicate;
  int duplicate_depth = 0;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty()) {
          duplicate = parsed.get<std::string>();
          duplicate_depth = depth;
        }
        break;
      default:
        break;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text, callback);
  } catch (const json::exception& e) {
    io_fail(where + ": the header is not valid JSON (" + e.what() + ")");
  }
  if (!duplicate.empty()) {
    if (duplicate_depth <= 1)
      io_fail(where + ": the header names " + in_quotes(duplicate) + " twice");
    io_fail(where + ": the header repeats the key " + in_quotes(duplicate) + " inside an entry");
  }
  return j;
}

/// Validates one tensor entry of the header.
Entry parse_entry(const std::string& name, const json& v, const std::string& where) {
  const std::string at = where + ": tensor " + in_quotes(name);
  if (!v.is_object()) io_fail(at + ": the entry is not an object");
  for (auto it = v.begin(); it != v.end(); ++it)
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      io_fail(at + ": unknown field " + in_quotes(it.key()));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!v.contains(field)) io_fail(at + ": the field \"" + field + "\" is missing");
  Entry e;
  e.name = name;
  const json& dt = v["dtype"];
  if (!dt.is_string()) io_fail(at + ": dtype is not a string");
  const std::string code = dt.get<std::string>();
  if (code == "F32")
    e.dtype = Dtype::float32;
  else if (code == "F64")
    e.dtype = Dtype::float64;
  else if (code == "I64")
    e.dtype = Dtype::int64;
  else if (is_other_safetensors_dtype(code))
    io_fail(at + ": dtype " + code + " is not supported (xgrad reads F32, F64 and I64)");
  else
    io_fail(at + ": unknown dtype " + in_quotes(code));
  const json& shape = v["shape"];
  if (!shape.is_array()) io_fail(at + ": shape is not an array");
  for (const json& d : shape) {
    if (!d.is_number_unsigned())
      io_fail(at + ": shape " + shape.dump() + " must hold non-negative integers");
    e.shape.push_back(d.get<std::size_t>());
  }
  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    io_fail(at + ": data_offsets " + off.dump() + " must be two non-negative integers");
  e.begin = off[0].get<std::uint64_t>();
  e.end = off[1].get<std::uint64_t>();
  if (e.end < e.begin)
    io_fail(at + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
            "] end before they begin");
  std::size_t numel = 0, bytes = 0;
  try {
    numel = checked_numel(at.c_str(), e.shape);
    bytes = checked_mul(at.c_str(), numel, element_size(e.dtype));
  } catch (const std::invalid_argument& err) {
    io_fail(err.what());
  }
  if (e.end - e.begin != bytes)
    io_fail(at + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
            "] hold " + std::to_string(e.end - e.begin) + " bytes, but " + code + " " +
            shape_str(e.shape) + " needs " + std::to_string(bytes));
  return e;
}

/// Opens `path`, reads and validates its header; `fd` is left at the start of the data.
Header read_validated_header(const std::string& path, Fd& fd, const std::string& where) {
  fd.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd.fd < 0) io_fail(where + ": cannot open the file: " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) io_fail(where + ": cannot stat the file: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) io_fail(where + ": not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 8)
    io_fail(where + ": the file has " + std::to_string(file_size) +
            " bytes, too few for the 8-byte header length");
  unsigned char len_bytes[8];
  int err = 0;
  if (!read_all(fd.fd, reinterpret_cast<char*>(len_bytes), 8, err))
    io_fail(where + ": cannot read the header length" + (err ? ": " + errno_text(err) : ""));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > kMaxHeader)
    io_fail(where + ": header length " + std::to_string(n) + " exceeds the limit of " +
            std::to_string(kMaxHeader) + " bytes");
  if (n > file_size - 8)
    io_fail(where + ": header length " + std::to_string(n) + " exceeds the file (" +
            std::to_string(file_size) + " bytes)");
  std::string text(static_cast<std::size_t>(n), '\0');
  if (!read_all(fd.fd, text.data(), text.size(), err))
    io_fail(where + ": cannot read the " + std::to_string(n) + "-byte header" +
            (err ? ": " + errno_text(err) : " (the file shrank)"));
  if (text.empty() || text[0] != '{') io_fail(where + ": the header does not start with '{'");
  // nlohmann stops at a NUL byte as if the input ended there; JSON allows none anywhere.
  if (const auto nul = text.find('\0'); nul != std::string::npos)
    io_fail(where + ": the header is not valid JSON (a NUL byte at header offset " +
            std::to_string(nul) + ")");
  const json j = parse_header(text, where);
  if (!j.is_object()) io_fail(where + ": the header is not a JSON object");

  Header h;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_null()) continue;
      if (!it->is_object()) io_fail(where + ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          io_fail(where + ": metadata " + in_quotes(m.key()) + " is not a string (" + m->dump() +
                  ")");
        h.metadata.emplace(m.key(), m->get<std::string>());
      }
      continue;
    }
    h.entries.push_back(parse_entry(it.key(), *it, where));
  }
  // nlohmann's objects are std::maps: entries come sorted by name. Offsets must tile the data.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : h.entries) by_offset.push_back(&e);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : by_offset) {
    if (e->begin != pos) {
      const std::string range =
          "[" + std::to_string(e->begin) + ", " + std::to_string(e->end) + ")";
      if (e->begin > pos)
        io_fail(where + ": tensor " + in_quotes(e->name) + ": data " + range +
                " leaves a hole at bytes [" + std::to_string(pos) + ", " +
                std::to_string(e->begin) + ")" +
                (prev ? " after tensor " + in_quotes(prev->name) : std::string(" at the start")));
      io_fail(where + ": tensor " + in_quotes(e->name) + ": data " + range + " overlaps tensor " +
              in_quotes(prev->name) + " (which ends at " + std::to_string(pos) + ")");
    }
    pos = e->end;
    prev = e;
  }
  const std::uint64_t data_size = file_size - 8 - n;
  if (pos != data_size)
    io_fail(where + ": the tensors hold " + std::to_string(pos) +
            " bytes of data but the file has " + std::to_string(data_size) +
            " after the header (8 + " + std::to_string(n) + " + " + std::to_string(pos) +
            " != file size " + std::to_string(file_size) + ")");
  return h;
}

std::string where_of(const char* fn, const std::string& path) {
  return std::string("nn::") + fn + "(" + in_quotes(path) + ")";
}

}  // namespace

// ---------------------------------------------------------------- public API

void save(const NamedTensors& tensors, const std::string& path, const Metadata& metadata) {
  const std::string where = where_of("save", path);
  std::vector<std::pair<std::string, Tensor>> sorted(tensors.begin(), tensors.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& [name, t] = sorted[i];
    if (name == "__metadata__")
      throw std::invalid_argument(where + ": \"__metadata__\" cannot name a tensor");
    if (i > 0 && sorted[i - 1].first == name)
      throw std::invalid_argument(where + ": tensor name " + in_quotes(name) + " appears twice");
    if (!t.defined())
      throw std::invalid_argument(where + ": tensor " + in_quotes(name) + " is undefined");
  }
  std::string header = make_header(sorted, metadata, where);
  header.append((8 - header.size() % 8) % 8, ' ');

  const auto [dir, base] = split_path(path);
  if (base.empty() || base == "." || base == "..")
    throw std::invalid_argument(where + ": the path names a folder, not a file");
  std::string tmp;
  Fd fd;
  for (unsigned attempt = 0; attempt < 100 && fd.fd < 0; ++attempt) {
    tmp = temp_name(dir, base, attempt);
    fd.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd.fd < 0 && errno != EEXIST)
      io_fail(where + ": cannot create a temporary file in the folder " + in_quotes(dir) + ": " +
              errno_text(errno));
  }
  if (fd.fd < 0)
    io_fail(where + ": cannot find an unused temporary file name in " + in_quotes(dir));

  crash_point("created");
  // From here on, any failure removes the temporary file.
  auto abandon = [&](const std::string& what, int err) {
    if (fd.fd >= 0) ::close(fd.fd);
    fd.fd = -1;
    ::unlink(tmp.c_str());
    io_fail(where + ": " + what + ": " + errno_text(err) + " (any previous file is unchanged)");
  };
  unsigned char len_bytes[8];
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(n >> (8 * i));
  int err = write_all(fd.fd, reinterpret_cast<const char*>(len_bytes), 8);
  if (!err) err = write_all(fd.fd, header.data(), header.size());
  for (std::size_t i = 0; i < sorted.size() && !err; ++i) {
    const Tensor& t = sorted[i].second;
    if (t.numel() == 0) continue;
    const char* p = nullptr;
    dispatch_all(t.dtype(), [&](auto tag) {
      using T = decltype(tag);
      p = reinterpret_cast<const char*>(t.data_ptr<T>());
    });
    const std::size_t bytes = t.numel() * element_size(t.dtype());
    if (std::getenv("XGRAD_TEST_CRASH_AT") != nullptr) {
      err = write_all(fd.fd, p, bytes / 2);
      crash_point("mid_data");
      if (!err) err = write_all(fd.fd, p + bytes / 2, bytes - bytes / 2);
    } else {
      err = write_all(fd.fd, p, bytes);
    }
  }
  if (err) abandon("cannot write " + in_quotes(tmp), err);
  crash_point("before_fsync");
  if (::fsync(fd.fd) != 0) abandon("cannot sync " + in_quotes(tmp), errno);
  crash_point("before_rename");
  const int fd_copy = fd.fd;
  fd.fd = -1;
  if (::close(fd_copy) != 0) abandon("cannot close " + in_quotes(tmp), errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    abandon("cannot rename " + in_quotes(tmp) + " to the target", errno);
  crash_point("before_dir_fsync");
  // Make the rename itself durable (a crash now keeps the new file, not a vanished one).
  Fd dfd;
  dfd.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd.fd < 0 || (::fsync(dfd.fd) != 0 && errno != EINVAL && errno != EROFS))
    io_fail(where + ": the file was written but its folder " + in_quotes(dir) +
            " could not be synced: " + errno_text(errno));
}

void save(const Module& module, const std::string& path, const Metadata& metadata) {
  save(module.state_dict(), path, metadata);
}

CheckpointInfo read_header(const std::string& path) {
  Fd fd;
  Header h = read_validated_header(path, fd, where_of("read_header", path));
  CheckpointInfo info;
  for (Entry& e : h.entries)
    info.tensors.push_back({std::move(e.name), e.dtype, std::move(e.shape)});
  info.metadata = std::move(h.metadata);
  return info;
}

Metadata read_metadata(const std::string& path) {
  Fd fd;
  return read_validated_header(path, fd, where_of("read_metadata", path)).metadata;
}

Checkpoint load_file(const std::string& path) {
  const std::string where = where_of("load_file", path);
  Fd fd;
  Header h = read_validated_header(path, fd, where);
  // Sizes are validated against the file: the allocations below total the file's data size.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : h.entries) by_offset.push_back(&e);
  std::stable_sort(by_offset.begin(), by_offset.end(),
                   [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  std::map<std::string, Tensor> loaded;
  for (const Entry* e : by_offset) {
    Tensor t = empty(e->shape, e->dtype);
    const std::size_t bytes = static_cast<std::size_t>(e->end - e->begin);
    if (bytes > 0) {
      char* p = nullptr;
      dispatch_all(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        p = reinterpret_cast<char*>(t.data_ptr<T>());
      });
      int err = 0;
      if (!read_all(fd.fd, p, bytes, err))
        io_fail(where + ": tensor " + in_quotes(e->name) + ": cannot read its " +
                std::to_string(bytes) + " bytes" +
                (err ? ": " + errno_text(err) : std::string(" (the file shrank)")));
    }
    loaded.emplace(e->name, std::move(t));
  }
  Checkpoint ck;
  for (auto& [name, t] : loaded) ck.tensors.emplace_back(name, std::move(t));
  ck.metadata = std::move(h.metadata);
  return ck;
}

void load(Module& module, const std::string& path, bool strict) {
  Checkpoint ck = load_file(path);
  try {
    module.load_state_dict(ck.tensors, strict);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where_of("load", path) + ": " + e.what());
  }
}

}  // namespace xg::nn
