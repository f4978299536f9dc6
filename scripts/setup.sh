#!/usr/bin/env bash
# Install everything the build, the VM and the tests need, idempotently.
# Debian packages (with bookworm-backports for QEMU 10, see Documentation/testing.rst),
# bindgen-cli from crates.io, virtme-ng from PyPI. Each step is skipped when its
# result is already present, so a warm run costs a few stat() calls.
set -euo pipefail

log() { printf '[setup] %s\n' "$*"; }
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

. "$(dirname "$0")/env.sh"   # PATH for cargo's and pip's binaries

# Debian packages: command or file that proves the package is there.
declare -A want=(
  [rustc-web]=/usr/bin/rustc
  [rust-web-src]=/usr/lib/rustlib/src/rust/library/core
  [rust-web-clippy]=/usr/bin/clippy-driver
  [rustfmt-web]=/usr/bin/rustfmt
  [clang-19]=/usr/bin/clang-19
  [lld-19]=/usr/bin/ld.lld-19
  [llvm-19]=/usr/bin/llvm-nm-19
  [libclang-19-dev]=/usr/lib/llvm-19/lib/libclang.so
  [flex]=/usr/bin/flex
  [bison]=/usr/bin/bison
  [bc]=/usr/bin/bc
  [libelf-dev]=/usr/include/libelf.h
  [libssl-dev]=/usr/include/openssl/ssl.h
  [cpio]=/usr/bin/cpio
  [dwarves]=/usr/bin/pahole
  [busybox-static]=/bin/busybox
  [udev]=/usr/bin/udevadm
  [kmod]=/usr/bin/kmod
  [spin]=/usr/bin/spin
  [linux-source-6.12]=/usr/src/linux-source-6.12.tar.xz
  [linux-source-7.3]=/usr/src/linux-source-7.3.tar.xz
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [python3-matplotlib]=/usr/lib/python3/dist-packages/matplotlib
  [trace-cmd]=/usr/bin/trace-cmd
  [libbpf-dev]=/usr/include/bpf/libbpf.h
)

missing=()
for p in "${!want[@]}"; do
  [ -e "${want[$p]}" ] || missing+=("$p")
done

qemu_ok() {
  command -v qemu-system-x86_64 >/dev/null &&
    qemu-system-x86_64 --version | awk 'NR==1{split($4,v,"."); exit !(v[1]>=10)}'
}

if [ ${#missing[@]} -gt 0 ] || ! qemu_ok; then
  # bookworm-backports carries QEMU 10 (bookworm's 7.2 runs stale int3s under
  # multi-threaded TCG). Reuse the URI of the machine's own Debian source.
  src=/etc/apt/sources.list.d/debian.sources
  bp=/etc/apt/sources.list.d/ftramp-backports.sources
  if [ ! -e "$bp" ] && [ -e "$src" ]; then
    uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src")
    log "adding bookworm-backports from $uri"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" | $SUDO tee "$bp" >/dev/null
  fi
  # trixie-backports carries linux-source-7.3 (it depends only on binutils and xz-utils).
  # Pinned so that nothing else is ever taken from it.
  tb=/etc/apt/sources.list.d/ftramp-trixie-backports.sources
  if [ ! -e "$tb" ] && [ -e "$src" ]; then
    uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src")
    log "adding trixie-backports from $uri (pinned: linux-source-7.3 only)"
    printf 'Types: deb\nURIs: %s\nSuites: trixie-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" | $SUDO tee "$tb" >/dev/null
    printf 'Package: *\nPin: release n=trixie-backports\nPin-Priority: 1\n\nPackage: linux-source-7.3\nPin: release n=trixie-backports\nPin-Priority: 500\n' |
      $SUDO tee /etc/apt/preferences.d/ftramp-trixie-backports >/dev/null
  fi
  log "apt-get update"
  $SUDO apt-get update -q
  base=()
  for p in "${missing[@]}"; do
    case "$p" in
      rustc-web|rust-web-src|rust-web-clippy|rustfmt-web|linux-source-6.12|linux-source-7.3|qemu-system-x86) ;;
      *) base+=("$p") ;;
    esac
  done
  export DEBIAN_FRONTEND=noninteractive
  if [ ${#base[@]} -gt 0 ]; then
    log "apt-get install ${base[*]}"
    $SUDO apt-get install -y -q --no-install-recommends "${base[@]}"
  fi
  log "apt-get install -t bookworm-security rustc-web rust-web-src rust-web-clippy rustfmt-web linux-source-6.12"
  $SUDO apt-get install -y -q --no-install-recommends -t bookworm-security \
    rustc-web rust-web-src rust-web-clippy rustfmt-web linux-source-6.12
  if [ ! -e /usr/src/linux-source-7.3.tar.xz ]; then
    log "apt-get install -t trixie-backports linux-source-7.3"
    $SUDO apt-get install -y -q --no-install-recommends -t trixie-backports linux-source-7.3
  fi
  if ! qemu_ok; then
    log "apt-get install -t bookworm-backports qemu-system-x86"
    $SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86
  fi
fi

if ! command -v bindgen >/dev/null; then
  log "cargo install --locked bindgen-cli (about 2 minutes)"
  cargo install --locked bindgen-cli
fi

if ! command -v vng >/dev/null; then
  log "pip install virtme-ng"
  python3 -m pip install -q virtme-ng
fi

log "toolchain: $(/usr/bin/rustc --version), $(clang-19 --version | head -1), $(bindgen --version), $(qemu-system-x86_64 --version | head -1), vng $(vng --version 2>&1 | tail -1)"
