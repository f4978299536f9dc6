# Shared settings for the scripts: sourced, not run.
# Toolchain: Debian's rustc-web (rustup's rustc shadows it in PATH and has no
# rust-src), clang-19 via LLVM=-19, bindgen from cargo.
FTRAMP_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# Where `pip install` puts virtme-ng's `vng` (a pyenv shim may not be on a CI PATH).
pyscripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null) &&
  export PATH="$PATH:$pyscripts"
FTRAMP_CACHE=${FTRAMP_CACHE:-$HOME/.cache/ftramp}
FTRAMP_FLAVOUR=${FTRAMP_FLAVOUR:-default}
KMAKE_VARS=(LLVM=-19 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
            CLIPPY_DRIVER=/usr/bin/clippy-driver RUSTFMT=/usr/bin/rustfmt
            "BINDGEN=$(command -v bindgen || echo bindgen)")

# The test kernels: `KERNEL=6.12` or `KERNEL=7.3` selects one for any target; `make check`
# and `make lint` take every one in FTRAMP_KERNELS when KERNEL is not set.
FTRAMP_KERNELS="6.12 7.3"
FTRAMP_KERNEL=${KERNEL:-${FTRAMP_KERNEL:-6.12}}
case " $FTRAMP_KERNELS " in
  *" $FTRAMP_KERNEL "*) ;;
  *) echo "KERNEL=$FTRAMP_KERNEL: not one of: $FTRAMP_KERNELS" >&2; exit 2 ;;
esac
export FTRAMP_KERNEL

# The Debian package that carries the kernel's source, and its version.
kernel_pkg() { echo "linux-source-$FTRAMP_KERNEL"; }
kernel_pkg_version() { dpkg-query -W -f='${Version}' "$(kernel_pkg)" 2>/dev/null; }

# The configuration fragment of the selected kernel and flavour, on stdout: the common
# lines, the version's own lines (Kconfig names that differ), the flavour's extras.
# Flavours: default (the test kernel), debug (plus KASAN, kmemleak, UBSAN), bench (the
# production-like kernel of `make bench`: the common lines without their debugging
# section, i.e. no lockdep, plus config.bench, which asserts that).
kernel_fragment() {
  if [ "$FTRAMP_FLAVOUR" = bench ]; then
    awk '/^# --- /{ skip = /^# --- debugging/ } !skip' "$FTRAMP_TOP/selftests/config"
  else
    cat "$FTRAMP_TOP/selftests/config"
  fi
  cat "$FTRAMP_TOP/selftests/config-$FTRAMP_KERNEL"
  case $FTRAMP_FLAVOUR in
    debug) cat "$FTRAMP_TOP/selftests/config.debug" ;;
    bench) cat "$FTRAMP_TOP/selftests/config.bench" ;;
  esac
  return 0
}

# The kernel is keyed by source version + config fragment(s) + toolchain, so a
# change of any of them builds a new one and nothing else ever rebuilds it.
kernel_key() {
  local ver
  ver=$(kernel_pkg_version)
  {
    kernel_fragment
    /usr/bin/rustc --version; clang-19 --version | head -1; bindgen --version; pahole --version
  } | sha256sum | cut -c1-12 | sed "s/^/$ver-$FTRAMP_FLAVOUR-/"
}

kernel_dir() { echo "$FTRAMP_CACHE/kernel-$(kernel_key)"; }
