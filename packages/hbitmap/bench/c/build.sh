#!/bin/sh
# Build the seed's hbitmap (QEMU util/hbitmap.c) with bench.c into bench/c/.build/hbitmap-bench; the
# benchmark (bench/index.ts) runs this script itself when a C compiler is present. The seed is
# qemu-hbitmap.c.txt in the shared seeds: DEJA_SEEDS, or ../shared/seeds beside the repository.
# gcc -O2 with assertions on, as QEMU builds it; no -march, so the binary runs where the JavaScript
# does.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
seeds=${DEJA_SEEDS:-$(cd "$here/../../../.." && pwd)/../shared/seeds}
seed="$seeds/qemu-hbitmap.c.txt"
out="$here/.build"
[ -f "$seed" ] || { echo "no seed at $seed (set DEJA_SEEDS)" >&2; exit 1; }
command -v "${CC:-gcc}" >/dev/null || { echo "no C compiler (${CC:-gcc})" >&2; exit 1; }
mkdir -p "$out/qemu" "$out/crypto"
# The seed is the source as a web page shows it: a few lines of page header, then the file from its
# opening comment on.
awk 'found || /^\/\*/ { found = 1; print }' "$seed" > "$out/hbitmap.c"
for header in qemu/osdep.h qemu/hbitmap.h qemu/host-utils.h trace.h crypto/hash.h; do
  echo '#include "shim.h"' > "$out/$header"
done
cp "$here/shim.h" "$out/shim.h"
"${CC:-gcc}" -O2 -I"$out" -o "$out/hbitmap-bench" "$here/bench.c" "$out/hbitmap.c" -lm
echo "built $out/hbitmap-bench"
