// yaml_guard.hpp: a pre-scan of YAML text for the inputs on which the YAML
// parser tandem links (Debian's yaml-cpp 0.7) never returns.
//
// yaml-cpp 0.7 loops forever when a ',' starts a token outside any flow
// collection at the top of a document (",", "\"a\" ,", "[a] ,", "&x ,": found
// by fuzz/fuzz_run_config.cpp, see docs/fuzzing.md). YAML allows ',' to start
// a token only inside [ ] or { }, so every such ',' is an error anyway; this
// scan reports the first one before the text reaches yaml-cpp.
//
// The scan knows quoted scalars, comments, flow collections and block
// scalars (| and >); plain scalars may hold ',' anywhere but at their start.
// It is conservative in one case: a continuation line of a multi-line plain
// scalar that starts with ',' is reported too (quote such a value).
//
// Linear time, no allocation. Thread safety: pure function.
#pragma once

#include <optional>
#include <string_view>

#include "topology/internal/yaml_binder.hpp"

namespace tandem::internal {

/// Where a ',' starts a token outside a flow collection, or nullopt.
std::optional<position> find_stray_flow_entry(std::string_view text);

/// The message reported for it (without position).
inline constexpr std::string_view stray_flow_entry_message
  = "YAML syntax error: ',' outside [ ] or { } (quote the value if it starts with ',')";

} // namespace tandem::internal
