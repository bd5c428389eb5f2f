// top_command.hpp: `tandem top HEAD_OR_RUN_DIR`, a full-screen, htop-like
// live view of a run's console (the actor table, a reward sparkline, the
// watchdog's cause) for clusters reached only by ssh. It reads the same
// JSON endpoints as the page (console/http_console.hpp): RUN_DIR/console.url
// names them, or HOST:PORT / http://HOST:PORT/ is given directly.
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem top HEAD_OR_RUN_DIR [--interval MS] [--once]
int top_command(const std::vector<std::string>& args);

} // namespace tandem
