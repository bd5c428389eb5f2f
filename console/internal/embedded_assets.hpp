// embedded_assets.hpp: the page's files (console/web/*, Chart.js), compiled
// into the binary so the console needs no files on disk and no CDN. The
// definitions are generated at build time by console/embed_assets.cmake from
// whatever those files hold (console/CMakeLists.txt lists them).
//
// Thread safety: constant data.
#pragma once

#include <cstddef>
#include <string_view>

namespace tandem {

struct embedded_asset {
  const char* path;         // "/index.html", "/console.js", ...
  const char* content_type; // "text/html; charset=utf-8", ...
  const unsigned char* data;
  size_t size;
};

extern const embedded_asset embedded_assets[];
extern const size_t embedded_asset_count;

/// The asset served at `path`, or nullptr.
const embedded_asset* find_embedded_asset(std::string_view path);

} // namespace tandem
