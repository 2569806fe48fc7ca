#!/usr/bin/env bash
# Runs every raftboot test: format, lints, unit and property tests, openraft's storage suite,
# multi-process fault tests with real bootd processes. Installs what it needs on a fresh
# Debian machine (apt-get for real clients and peers, cargo for the rest).
# Usage: bash scripts/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export RAFTBOOT_BIN_DIR="$CARGO_TARGET_DIR/debug"

# Debian packages the suites use: iproute2 and util-linux (namespaces, nsenter), busybox
# (demo image), libnfs-utils (NFS client), debootstrap (minbase image), real DHCP clients
# (isc-dhcp-client: dhclient; udhcpc; kea-admin: ISC perfdhcp; kea-dhcp4-server: the address
# server beside proxyDHCP), real TFTP clients (tftp-hpa, curl, atftp), PXE loaders (pxelinux,
# syslinux-common), a real PXE firmware (QEMU with its iPXE ROMs) and what the QEMU guests
# boot (Debian's kernel, and initramfs-tools to build an NFS-root initrd for it), a real
# browser for the status page (headless chromium, driven by chromium-driver), openssl
# (the TLS tests make their cluster CA and certificates with it), and prometheus (promtool
# checks the alert rules; the server runs them against a real cluster).
APT_PACKAGES=(iproute2 util-linux busybox libnfs-utils debootstrap isc-dhcp-client udhcpc kea-admin
  kea-dhcp4-server tftp-hpa curl atftp pxelinux syslinux-common qemu-system-x86 ipxe-qemu
  linux-image-amd64 initramfs-tools chromium chromium-driver openssl prometheus)
need=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "missing Debian packages (run as root to install): ${need[*]}" >&2
    exit 1
  fi
fi
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt || true

declare -a SUMMARY=()
suite() {
  local name=$1; shift
  local t0=$SECONDS
  echo "==> $name"
  if "$@"; then
    SUMMARY+=("$(printf '%-28s ok    %4ds' "$name" $((SECONDS - t0)))")
  else
    SUMMARY+=("$(printf '%-28s FAIL  %4ds' "$name" $((SECONDS - t0)))")
    printf '%s\n' "${SUMMARY[@]}"
    exit 1
  fi
}

# The Debian package from the dev-profile binaries (cargo-deb is installed on first use,
# pinned in build-deb.sh); chaos-tests/tests/package.rs installs it into a debootstrap root.
build_deb() {
  local out
  out=$(bash scripts/build-deb.sh --dev) || return 1
  RAFTBOOT_DEB=$(tail -n1 <<<"$out")
  export RAFTBOOT_DEB
}

# The alert rules: syntax, and their unit tests on synthetic series (chaos-tests/tests/alerts.rs
# runs them in a real Prometheus against a real cluster).
promtool_rules() {
  promtool check rules docs/alerts/raftboot.rules.yml &&
    promtool test rules docs/alerts/raftboot.rules.test.yml
}

suite "fmt" cargo fmt --all --check
suite "clippy" cargo clippy --locked --workspace --all-targets -- -D warnings
suite "build binaries" cargo build --locked --workspace --bins
suite "alert rules (promtool)" promtool_rules
suite "debian package" build_deb
suite "unit+property+storage" cargo test --locked --workspace --exclude chaos-tests
suite "multi-process (lo+netns)" cargo test --locked -p chaos-tests --no-fail-fast

echo
echo "suite timings:"
printf '%s\n' "${SUMMARY[@]}"
