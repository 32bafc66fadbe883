#!/usr/bin/env bash
# Formats the C and C++ sources tracked by git with the tree's .clang-format
# (clang-format 14, Debian 12's `clang-format` package).
#
#   scripts/format.sh                 rewrites every source file in place
#   scripts/format.sh --check         changes nothing: lists each file that
#                                     differs with the number of lines that
#                                     would change, and exits 1 if any does
#   scripts/format.sh [--check] FILE...   only those files
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
if [[ ${1:-} == --check ]]; then
  check=1
  shift
fi
if ! command -v clang-format >/dev/null; then
  echo "format.sh: clang-format not found (Debian: apt-get install clang-format)" >&2
  exit 2
fi

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files '*.cc' '*.h' '*.c')
fi

if [[ $check == 0 ]]; then
  printf '%s\0' "${files[@]}" | xargs -0 clang-format -i --style=file
  exit 0
fi

total=0
differ=0
for f in "${files[@]}"; do
  # Lines of f that the formatter would replace (diff's "<" lines).
  n=$(clang-format --style=file "$f" | diff "$f" - | grep -c '^<' || true)
  if [[ $n -gt 0 ]]; then
    echo "$f: $n lines"
    total=$((total + n))
    differ=$((differ + 1))
  fi
done
if [[ $differ -gt 0 ]]; then
  echo "format.sh --check: $differ of ${#files[@]} files differ, $total lines would change" \
       "(scripts/format.sh rewrites them)" >&2
  exit 1
fi
echo "format.sh --check: ${#files[@]} files follow .clang-format"
