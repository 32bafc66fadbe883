#!/usr/bin/env bash
# install_test.sh <build dir> <consumer source dir> <sidewald> <sidewal cli>
#
# Installs the SDK from a built tree into a temp prefix (cmake --install
# --prefix), checks the installed layout, then builds programs out of the
# tree against it, the two documented ways: a CMake project
# (find_package(sidewal CONFIG) with CMAKE_PREFIX_PATH; C++ and C, shared and
# static) and a C program compiled with `pkg-config --cflags --libs sidewal`.
# Each appends through the real daemon and reads its record back; the daemon
# then holds exactly their records.
set -euo pipefail
build=$1 consumer=$2 sidewald=$3 cli=$4
tmp=$(mktemp -d /tmp/swinst-XXXXXX)
daemon_pid=""
cleanup() {
  if [[ -n "$daemon_pid" ]]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -n1)
libdir=${libdir%/}

# ---- The installed layout.
for f in include/sidewal/sidewal.h include/sidewal/client/client.h \
         include/sidewal/common/status.h include/sidewal/proto/protocol.h; do
  [[ -f $prefix/$f ]] || fail "$f not installed"
done
# Installed headers include only installed headers, by their installed names.
if grep -rhE '#include "' "$prefix/include/sidewal" | grep -vE '#include "sidewal/'; then
  fail "an installed header includes a path outside include/sidewal"
fi
[[ -L $libdir/libsidewal.so.1 && -f $libdir/libsidewal.a ]] || fail "libsidewal.so.1 / .a missing"
[[ -f $libdir/libsidewal-cpp.a ]] || fail "libsidewal-cpp.a missing"
ls "$libdir"/libsidewal-cpp.so.* >/dev/null || fail "libsidewal-cpp.so.* missing"
[[ -f $libdir/cmake/sidewal/sidewalConfig.cmake && -f $libdir/pkgconfig/sidewal.pc &&
   -f $libdir/pkgconfig/sidewal-cpp.pc ]] || fail "package files missing"
(cd "$prefix" && find . -type f -o -type l | sort | sed 's/^/  installed: /')

# ---- Build against it, out of the tree (no ccache, no source-tree paths).
unset CMAKE_CXX_COMPILER_LAUNCHER CMAKE_C_COMPILER_LAUNCHER
cmake -S "$consumer" -B "$tmp/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/consumer-build" -j 2 >/dev/null
export PKG_CONFIG_PATH=$libdir/pkgconfig
echo "pkg-config sidewal: $(pkg-config --cflags --libs sidewal)"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Werror -o "$tmp/c_pkgconfig" "$consumer/consumer.c" \
   $(pkg-config --cflags --libs sidewal) -Wl,-rpath,"$libdir"
# The C++ headers compile with what sidewal-cpp.pc gives, and the C header
# as C++ too (its extern "C" block).
# shellcheck disable=SC2046
printf '#include <sidewal/client/client.h>\n#include <sidewal/sidewal.h>\n' |
  c++ -std=c++20 -Wall -Werror -fsyntax-only -x c++ - $(pkg-config --cflags sidewal-cpp)

# ---- Run them against a daemon.
"$sidewald" --data-dir "$tmp/data" --socket "$tmp/s.sock" --admin 127.0.0.1:0 \
  >"$tmp/sidewald.log" 2>&1 &
daemon_pid=$!
deadline=$((SECONDS + 60))
until "$cli" --socket "$tmp/s.sock" --connect-timeout-ms 1000 status 2>/dev/null |
      grep -q '^state: ready'; do
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$tmp/sidewald.log"; fail "sidewald exited"; }
  ((SECONDS < deadline)) || fail "sidewald not ready after 60 s"
done
n=0
for prog in consumer-build/cpp_shared consumer-build/cpp_static consumer-build/c_shared \
            consumer-build/c_static c_pkgconfig; do
  out=$("$tmp/$prog" "$tmp/s.sock" "from $(basename "$prog")") || fail "$prog failed"
  echo "$prog: $out"
  n=$((n + 1))
  [[ $out == "appended $n"* ]] || fail "$prog: expected LSN $n"
done
# Each program's record is in the log, in order.
records=$("$cli" --socket "$tmp/s.sock" read --from 1)
echo "$records"
[[ $(echo "$records" | grep -c ' from ') == "$n" ]] || fail "expected $n records"
echo "install_test: $n programs built against the installed SDK appended"
