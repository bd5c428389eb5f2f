#include "runtime/memory_file_system.hpp"

#include <cerrno>
#include <sstream>

#include "runtime/error.hpp"

namespace tandem {

namespace {

bool is_root(const std::string& key) {
  return key == "." || key == "/";
}

} // namespace

std::string memory_file_system::normalize(const std::string& path) {
  std::string out;
  for (char c : path)
    if (c != '/' || out.empty() || out.back() != '/')
      out += c;
  if (out.size() > 1 && out.back() == '/')
    out.pop_back();
  return out.empty() ? "." : out;
}

bool memory_file_system::is_under(const std::string& path, const std::string& dir) {
  if (dir == "/")
    return path.size() > 1 && path[0] == '/';
  if (dir == ".")
    return path != "." && path[0] != '/';
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0
         && path[dir.size()] == '/';
}

const memory_file_system::node* memory_file_system::find(const std::string& key) const {
  static const node root{true, {}};
  if (is_root(key))
    return &root;
  auto i = nodes_.find(key);
  return i == nodes_.end() ? nullptr : &i->second;
}

bool memory_file_system::blocked(const std::string& key) const {
  for (const auto& ro : read_only_)
    if (key == ro || is_under(key, ro))
      return true;
  return false;
}

caf::error memory_file_system::check_writable(const char* verb, const std::string& key) const {
  return blocked(key) ? file_error(verb, key, EACCES) : caf::error{};
}

caf::error memory_file_system::check_new_entry(const char* verb, const std::string& key) const {
  const node* parent = find(parent_dir(key));
  if (parent == nullptr)
    return file_error(verb, key, ENOENT);
  if (!parent->dir)
    return file_error(verb, key, ENOTDIR);
  return check_writable(verb, key);
}

caf::error memory_file_system::create_dir(const std::string& path) {
  if (path.empty())
    return file_error("create directory", path, ENOENT);
  const auto key = normalize(path);
  std::lock_guard<std::mutex> guard(mtx_);
  size_t pos = 0;
  do {
    pos = key.find('/', pos + 1);
    const auto prefix = key.substr(0, pos);
    if (const node* n = find(prefix)) {
      if (!n->dir)
        return file_error("create directory", prefix, ENOTDIR);
      continue;
    }
    if (auto err = check_new_entry("create directory", prefix))
      return err;
    nodes_[prefix].dir = true;
    ops_.push_back("create_dir " + prefix);
  } while (pos != std::string::npos);
  return caf::none;
}

caf::error memory_file_system::write_file(const std::string& path, const file_writer& body) {
  const auto key = normalize(path);
  {
    std::lock_guard<std::mutex> guard(mtx_);
    const node* n = find(key);
    if (n != nullptr && n->dir)
      return file_error("create", key, EISDIR);
    if (auto err = check_new_entry("create", key))
      return err;
  }
  std::ostringstream out;
  body(out);
  if (!out) // the writer itself failed the stream
    return file_error("write", key, EIO);
  const auto text = out.str();
  std::lock_guard<std::mutex> guard(mtx_);
  return store_file(key, std::vector<char>(text.begin(), text.end()));
}

caf::error memory_file_system::store_file(const std::string& key, std::vector<char> bytes) {
  if (auto err = check_new_entry("create", key))
    return err;
  if (write_budget_ && bytes.size() > *write_budget_) {
    // The disk fills up during this write; like posix write_file, the
    // partial file is removed, and the disk stays full.
    write_budget_ = 0;
    nodes_.erase(key);
    return file_error("write", key, ENOSPC);
  }
  if (write_budget_)
    *write_budget_ -= bytes.size();
  nodes_[key] = node{false, std::move(bytes)};
  ops_.push_back("write " + key);
  ops_.push_back("sync_file " + key);
  return caf::none;
}

caf::expected<std::vector<char>> memory_file_system::read_file(const std::string& path,
                                                               uint64_t max_bytes) {
  const auto key = normalize(path);
  std::lock_guard<std::mutex> guard(mtx_);
  const node* n = find(key);
  if (n == nullptr)
    return file_error("open", key, ENOENT);
  if (n->dir)
    return file_error("read", key, EISDIR);
  if (n->bytes.size() > max_bytes)
    return make_error(errc::capacity_exceeded,
                      key + " holds " + std::to_string(n->bytes.size())
                        + " bytes, more than the limit of " + std::to_string(max_bytes));
  return n->bytes;
}

caf::expected<uint64_t> memory_file_system::file_size(const std::string& path) {
  const auto key = normalize(path);
  std::lock_guard<std::mutex> guard(mtx_);
  const node* n = find(key);
  if (n == nullptr)
    return file_error("stat", key, ENOENT);
  if (n->dir)
    return file_error("stat", key, EISDIR);
  return static_cast<uint64_t>(n->bytes.size());
}

caf::error memory_file_system::check_rename(const std::string& from, const std::string& to) const {
  const auto what = from + " to " + to;
  const node* src = find(from);
  if (src == nullptr)
    return file_error("rename", what, ENOENT);
  if (is_root(from) || is_root(to))
    return file_error("rename", what, EBUSY);
  if (blocked(from) || blocked(to))
    return file_error("rename", what, EACCES);
  const node* parent = find(parent_dir(to));
  if (parent == nullptr || !parent->dir)
    return file_error("rename", what, parent == nullptr ? ENOENT : ENOTDIR);
  if (is_under(to, from))
    return file_error("rename", what, EINVAL);
  const node* dst = find(to);
  if (dst == nullptr || to == from)
    return caf::none;
  if (src->dir && !dst->dir)
    return file_error("rename", what, ENOTDIR);
  if (!src->dir && dst->dir)
    return file_error("rename", what, EISDIR);
  for (const auto& [key, n] : nodes_)
    if (is_under(key, to))
      return file_error("rename", what, ENOTEMPTY);
  return caf::none;
}

caf::error memory_file_system::rename(const std::string& from_path, const std::string& to_path) {
  const auto from = normalize(from_path);
  const auto to = normalize(to_path);
  std::lock_guard<std::mutex> guard(mtx_);
  if (auto err = check_rename(from, to))
    return err;
  if (from != to) {
    nodes_.erase(to);
    std::map<std::string, node> moved;
    for (auto i = nodes_.begin(); i != nodes_.end();) {
      if (i->first == from || is_under(i->first, from)) {
        moved[to + i->first.substr(from.size())] = std::move(i->second);
        i = nodes_.erase(i);
      } else {
        ++i;
      }
    }
    nodes_.merge(moved);
  }
  ops_.push_back("rename " + from + " -> " + to);
  return caf::none;
}

caf::error memory_file_system::sync_dir(const std::string& path) {
  const auto key = normalize(path);
  std::lock_guard<std::mutex> guard(mtx_);
  const node* n = find(key);
  if (n == nullptr)
    return file_error("open directory", key, ENOENT);
  if (!n->dir)
    return file_error("open directory", key, ENOTDIR);
  ops_.push_back("sync_dir " + key);
  return caf::none;
}

caf::expected<std::vector<dir_entry>> memory_file_system::list_dir(const std::string& path) {
  const auto key = normalize(path);
  std::lock_guard<std::mutex> guard(mtx_);
  const node* n = find(key);
  if (n == nullptr)
    return file_error("list", key, ENOENT);
  if (!n->dir)
    return file_error("list", key, ENOTDIR);
  std::vector<dir_entry> out; // sorted: nodes_ is ordered and names share the prefix
  for (const auto& [k, child] : nodes_)
    if (parent_dir(k) == key)
      out.push_back({base_name(k), child.dir});
  return out;
}

void memory_file_system::erase_tree(const std::string& key) {
  for (auto i = nodes_.begin(); i != nodes_.end();)
    i = i->first == key || is_under(i->first, key) ? nodes_.erase(i) : std::next(i);
}

caf::error memory_file_system::remove_tree(const std::string& path) {
  const auto key = normalize(path);
  std::lock_guard<std::mutex> guard(mtx_);
  if (find(key) == nullptr)
    return caf::none;
  if (is_root(key))
    return file_error("remove", key, EBUSY);
  if (auto err = check_writable("remove", key))
    return err;
  erase_tree(key);
  ops_.push_back("remove " + key);
  return caf::none;
}

bool memory_file_system::exists(const std::string& path) {
  std::lock_guard<std::mutex> guard(mtx_);
  return find(normalize(path)) != nullptr;
}

void memory_file_system::fail_writes_after(uint64_t bytes) {
  std::lock_guard<std::mutex> guard(mtx_);
  write_budget_ = bytes;
}

void memory_file_system::clear_write_limit() {
  std::lock_guard<std::mutex> guard(mtx_);
  write_budget_.reset();
}

void memory_file_system::set_read_only(const std::string& path, bool read_only) {
  std::lock_guard<std::mutex> guard(mtx_);
  if (read_only)
    read_only_.insert(normalize(path));
  else
    read_only_.erase(normalize(path));
}

std::vector<std::string> memory_file_system::ops() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return ops_;
}

void memory_file_system::clear_ops() {
  std::lock_guard<std::mutex> guard(mtx_);
  ops_.clear();
}

std::optional<std::vector<char>> memory_file_system::contents(const std::string& path) const {
  std::lock_guard<std::mutex> guard(mtx_);
  const node* n = find(normalize(path));
  if (n == nullptr || n->dir)
    return std::nullopt;
  return n->bytes;
}

bool memory_file_system::is_dir(const std::string& path) const {
  std::lock_guard<std::mutex> guard(mtx_);
  const node* n = find(normalize(path));
  return n != nullptr && n->dir;
}

} // namespace tandem
