#!/bin/sh
# Build the seed's delta index with bench.c into bench/c/.build/delta-bench (pnpm bench:c).
# The seed is the patch of drivers/md/dm-vdo/delta-index.c in the shared seeds: DEJA_SEEDS, or
# ../shared/seeds beside the repository. gcc -O2, as the kernel builds it; no -march, so the
# binary runs where the JavaScript does.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
seeds=${DEJA_SEEDS:-$(cd "$here/../../../.." && pwd)/../shared/seeds}
patch="$seeds/dm-vdo-delta-index.patch.txt"
out="$here/.build"
[ -f "$patch" ] || { echo "no seed patch at $patch (set DEJA_SEEDS)" >&2; exit 1; }
command -v "${CC:-gcc}" >/dev/null || { echo "no C compiler (${CC:-gcc})" >&2; exit 1; }
mkdir -p "$out/linux"
# The new files of the patch: '+++ b/drivers/md/dm-vdo/<name>' then '+'-prefixed lines until the
# next 'diff --git' or the '-- ' signature.
awk -v out="$out" '
  /^diff --git/ { file = ""; next }
  /^\+\+\+ b\/drivers\/md\/dm-vdo\// { file = out "/" substr($0, 25); printf "" > file; next }
  file != "" && /^-- ?$/ { file = ""; next }
  file != "" && /^@@/ { next }
  file != "" && /^\+/ { print substr($0, 2) >> file }
' "$patch"
for header in linux/bitops.h linux/bits.h linux/cache.h linux/compiler.h linux/limits.h linux/log2.h \
  config.h cpu.h errors.h io-factory.h logger.h memory-alloc.h numeric.h permassert.h \
  string-utils.h time-utils.h uds.h; do
  echo '#include "shim.h"' > "$out/$header"
done
cp "$here/shim.h" "$out/shim.h"
"${CC:-gcc}" -O2 -I"$out" -o "$out/delta-bench" "$here/bench.c" "$out/delta-index.c" -lm
echo "built $out/delta-bench"
