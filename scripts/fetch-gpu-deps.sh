#!/usr/bin/env bash
# fetch-gpu-deps.sh -- run HERE, on a Debian 12 (bookworm, amd64) box with apt.
#
# The GPU machine (nvidia-h200 kind, Ubuntu 24.04 image with the torch 2.11 CUDA
# wheel, CUDA 13, g++ 13, cmake/ninja in the torch venv) has no package registry
# and lacks CAF, yaml-cpp and GoogleTest. This script downloads Debian 12's .debs
# for them (no root needed, nothing is installed on this box), unpacks them and
# builds a self-contained prefix that scripts/gpu-build.sh consumes:
#
#   .gpu-deps/prefix/include/{caf,yaml-cpp,gtest}
#   .gpu-deps/prefix/lib/x86_64-linux-gnu/  libcaf_{core,io}.so*, libyaml-cpp.so*,
#                                           libgtest{,_main}.a, cmake/{yaml-cpp,GTest}
#
# The Debian /usr layout is kept (lib/x86_64-linux-gnu) because the packaged CMake
# configs of yaml-cpp and GTest locate their prefix four directories up. Every
# shared library gets a DT_RUNPATH of $ORIGIN (patchelf, itself taken from its
# .deb into .gpu-deps/tools, not installed) so libcaf_io finds libcaf_core with
# no LD_LIBRARY_PATH (DT_RUNPATH is not transitive). Libraries built on Debian 12
# (glibc 2.36, GCC 12, CXX11 ABI) run on the newer Ubuntu 24.04 image.
#
# .gpu-deps/ is ignored by git (.gitignore). Only .gpu-deps/prefix (~4 MiB) is sent:
#   run(carry=[".gpu-deps/prefix"], command="... bash scripts/gpu-build.sh ...")
#
# Usage: bash scripts/fetch-gpu-deps.sh        (idempotent: rebuilds the prefix)
set -euo pipefail
cd "$(dirname "$0")/.."

DEPS=.gpu-deps
PKGS=(
  libcaf-dev libcaf-core0.17 libcaf-io0.17   # CAF 0.17.6 core + io (no openssl)
  libyaml-cpp-dev libyaml-cpp0.7             # yaml-cpp 0.7 (+ CMake config)
  libgtest-dev                               # GoogleTest 1.12 static libs + CMake config
  libzmq3-dev libzmq5 cppzmq-dev             # ZeroMQ 4.3.4 + cppzmq (data plane)
  libmsgpack-cxx-dev                         # msgpack-c++ 4.1 (header-only + CMake config)
  libsodium-dev libsodium23                  # keyed MACs, CURVE key derivation
  libsqlite3-dev libsqlite3-0                # SQLite 3.40: the run journal (RUN_DIR/journal.db)
  libcpp-httplib-dev libcpp-httplib0.11 libbrotli1 libbrotli-dev  # the console's web server (libssl3, zlib: on the image)
  libjs-chart.js                             # the console page's charts (embedded at build time)
  libpgm-5.3-0 libnorm1 libbsd0 libmd0       # libzmq's runtime dependencies
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2
)
# protobuf 3.21 (libprotobuf-dev, protobuf-compiler) is already on the GPU image.

rm -rf "$DEPS/debs" "$DEPS/stage" "$DEPS/prefix" "$DEPS/tools"
mkdir -p "$DEPS/debs" "$DEPS/stage" "$DEPS/tools"
(cd "$DEPS/debs" && apt-get download "${PKGS[@]}" patchelf)

for f in "$DEPS"/debs/*.deb; do
  case "$(basename "$f")" in
    patchelf_*) dpkg-deb -x "$f" "$DEPS/tools" ;;
    *)          dpkg-deb -x "$f" "$DEPS/stage" ;;
  esac
done
PATCHELF="$DEPS/tools/usr/bin/patchelf"

P="$DEPS/prefix"
mkdir -p "$P/lib"
cp -a "$DEPS/stage/usr/include" "$P/include"
cp -a "$DEPS/stage/usr/lib/x86_64-linux-gnu" "$P/lib/"
cp -a "$DEPS/stage/lib/x86_64-linux-gnu/." "$P/lib/x86_64-linux-gnu/" 2>/dev/null || true
mkdir -p "$P/share" && cp -a "$DEPS/stage/usr/share/cmake" "$P/share/" 2>/dev/null || true
mkdir -p "$P/share/javascript/chart.js"
cp -L "$DEPS/stage/usr/share/javascript/chart.js/chart.min.js" "$P/share/javascript/chart.js/"
L="$P/lib/x86_64-linux-gnu"
rm -rf "$L/pkgconfig"
rm -f "$L/libcaf_openssl.so"   # dangling dev symlink: libcaf-openssl0.17 is not carried
rm -f "$L/libyaml-cpp.a"       # the CMake config imports the shared library
rm -f "$L/libzmq.a" "$L/libsodium.a" "$L/libsqlite3.a"  # shared libraries are linked; saves 17 MiB of carry

for f in "$L"/*.so.*; do
  [ -L "$f" ] || "$PATCHELF" --set-rpath '$ORIGIN' "$f"
done
rm -rf "$DEPS/stage"

# Sanity: no dangling links, and the pieces gpu-build.sh relies on exist.
if find "$P" -xtype l | grep .; then echo "fetch-gpu-deps: dangling links above" >&2; exit 1; fi
for want in include/caf/all.hpp include/yaml-cpp/yaml.h include/gtest/gtest.h \
            lib/x86_64-linux-gnu/libcaf_core.so lib/x86_64-linux-gnu/libcaf_io.so \
            lib/x86_64-linux-gnu/libyaml-cpp.so lib/x86_64-linux-gnu/libgtest.a \
            lib/x86_64-linux-gnu/cmake/GTest/GTestConfig.cmake \
            lib/x86_64-linux-gnu/cmake/yaml-cpp/yaml-cpp-config.cmake \
            include/zmq.hpp include/msgpack.hpp include/sodium.h include/sqlite3.h \
            lib/x86_64-linux-gnu/libzmq.so lib/x86_64-linux-gnu/libsodium.so \
            lib/x86_64-linux-gnu/libsqlite3.so include/httplib.h \
            lib/x86_64-linux-gnu/libcpp-httplib.so share/javascript/chart.js/chart.min.js; do
  [ -e "$P/$want" ] || { echo "fetch-gpu-deps: missing $P/$want" >&2; exit 1; }
done
echo "fetch-gpu-deps: $(du -sh "$P" | cut -f1) in $P"
