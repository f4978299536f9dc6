#!/usr/bin/env bash
# Build the test kernel once into the cache (see env.sh: kernel_key) and print
# its build directory on stdout. A cached kernel is never touched again.
set -euo pipefail
. "$(dirname "$0")/env.sh"

log() { printf '[kernel] %s\n' "$*" >&2; }

kdir=$(kernel_dir)
if [ -e "$kdir/build/.ftramp-built" ]; then
  echo "$kdir/build"
  exit 0
fi

pkg=$(kernel_pkg)
ver=$(kernel_pkg_version)
[ -n "$ver" ] || { log "$pkg is not installed (make setup installs it)"; exit 1; }
src=$FTRAMP_CACHE/src-$ver
if [ ! -e "$src/.ftramp-unpacked" ]; then
  log "unpacking /usr/src/$pkg.tar.xz ($ver) into $src"
  rm -rf "$src"; mkdir -p "$src"
  tar -xf "/usr/src/$pkg.tar.xz" -C "$src" --strip-components=1
  touch "$src/.ftramp-unpacked"
fi

mkdir -p "$kdir/build"
logf=$kdir/build.log
frag=$kdir/fragment.config
kernel_fragment > "$frag"

{
  echo "# ftramp test kernel $ver flavour=$FTRAMP_FLAVOUR"
  /usr/bin/rustc --version; clang-19 --version | head -1; bindgen --version; pahole --version
} > "$logf"

log "configuring (allnoconfig + $(basename "$frag")), log: $logf"
make -C "$src" O="$kdir/build" "${KMAKE_VARS[@]}" KCONFIG_ALLCONFIG="$frag" \
  allnoconfig >>"$logf" 2>&1 || { log "config failed, see $logf"; exit 1; }

# Every line of the fragment must hold in the result (Kconfig silently drops
# options whose dependencies are missing).
bad=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$kdir/build/.config" || { log "not in .config: $line"; bad=1; } ;;
    "# CONFIG_"*" is not set")
      opt=${line#\# }; opt=${opt%% *}
      grep -q "^$opt=" "$kdir/build/.config" && { log "set although disabled: $opt"; bad=1; } ;;
  esac
done < "$frag"
[ $bad -eq 0 ] || { log "config fragment does not hold"; exit 1; }

log "building $ver with -j$(nproc) (about 15 minutes on 2 cores), log: $logf"
start=$(date +%s)
make -C "$src" O="$kdir/build" "${KMAKE_VARS[@]}" -j"$(nproc)" >>"$logf" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
  sleep 30
  kill -0 $pid 2>/dev/null || break
  log "$(( $(date +%s) - start ))s: $(grep -c '^  [A-Z]' "$logf") steps, last: $(tail -1 "$logf" | cut -c1-80)"
done
if ! wait $pid; then
  tail -20 "$logf" >&2
  log "kernel build failed, see $logf"
  exit 1
fi
secs=$(( $(date +%s) - start ))
echo "build seconds: $secs" >> "$logf"
log "built in ${secs}s: $kdir/build"
touch "$kdir/build/.ftramp-built"
echo "$kdir/build"
