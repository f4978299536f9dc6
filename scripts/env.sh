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

# The kernel is keyed by source version + config fragment(s) + toolchain, so a
# change of any of them builds a new one and nothing else ever rebuilds it.
kernel_key() {
  local ver frag
  ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
  frag=$FTRAMP_TOP/selftests/config
  {
    cat "$frag"
    [ "$FTRAMP_FLAVOUR" = debug ] && cat "$FTRAMP_TOP/selftests/config.debug"
    /usr/bin/rustc --version; clang-19 --version | head -1; bindgen --version
  } | sha256sum | cut -c1-12 | sed "s/^/$ver-$FTRAMP_FLAVOUR-/"
}

kernel_dir() { echo "$FTRAMP_CACHE/kernel-$(kernel_key)"; }
