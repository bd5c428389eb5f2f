#!/usr/bin/env bash
# source_rules.sh ROOT: calls tandem's sources must not make (a ctest).
#   std::filesystem::remove_all: the CUDA LibTorch 2.11 wheel's libtorch.so
#   exports its own copy, which wins symbol resolution and jumps to address 0;
#   use file_system::remove_tree (runtime/file_system.hpp says more).
set -u
root=${1:?usage: source_rules.sh ROOT}
cd "$root" || exit 2
hits=$(grep -rnE "(std::filesystem|stdfs|fs)::remove_all[[:space:]]*\(" --include=*.cpp --include=*.hpp \
         actors app bench console models runtime tasks topology wiring tests tools fuzz 2>/dev/null)
if [ -n "$hits" ]; then
  echo "source_rules: std::filesystem::remove_all is not allowed (runtime/file_system.hpp says why):"
  echo "$hits"
  exit 1
fi
echo "source_rules: ok"
