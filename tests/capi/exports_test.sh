#!/usr/bin/env bash
# exports_test.sh <libsidewal.so> <sidewal.h>: the library's dynamic symbol
# table holds exactly the functions the header declares (each at version
# SIDEWAL_1) and its SONAME is libsidewal.so.<SIDEWAL_ABI_VERSION>.
set -euo pipefail
lib=$1 header=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWwDdBbVvRri]$/ {print $3}' |
           grep -v '^SIDEWAL_1$' | sed 's/@.*//' | sort -u)
declared=$(grep -oE '^SIDEWAL_API [^(]*\b(sidewal_[a-z_]+)\(' "$header" |
           grep -oE 'sidewal_[a-z_]+\($' | tr -d '(' | sort -u)
if [[ "$exported" != "$declared" ]]; then
  echo "exported symbols differ from the header's functions:"
  diff <(echo "$declared") <(echo "$exported") || true
  exit 1
fi
if nm -D --defined-only "$lib" | grep -q 'sidewal_abi_version@@SIDEWAL_1'; then :; else
  echo "sidewal_abi_version is not at version SIDEWAL_1"; exit 1
fi
abi=$(grep -oE '^#define SIDEWAL_ABI_VERSION [0-9]+' "$header" | awk '{print $3}')
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
if [[ "$soname" != "libsidewal.so.$abi" ]]; then
  echo "SONAME is '$soname', expected libsidewal.so.$abi"; exit 1
fi
echo "exports_test: $(echo "$declared" | wc -l) functions exported, SONAME $soname"
