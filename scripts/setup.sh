#!/usr/bin/env bash
# Everything IronClaw needs on a fresh Debian or Ubuntu machine: the sandbox tools from the
# distribution, then the npm packages (which bring a pinned Node 24 and build the CLI and the
# guest agent). Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
say() { printf 'setup: %s\n' "$*"; }

if ! command -v apt-get >/dev/null; then
  say "this script needs apt-get (Debian or Ubuntu); install bubblewrap, runsc and util-linux yourself, then run: npm ci" >&2
  exit 1
fi

# qemu-system-x86: the qemu micro-VM backend; e2fsprogs (mke2fs -d) and lz4 build its guest image
# (lz4 also unpacks the vmlinux Firecracker needs). socat is not installed here: the image build
# downloads it into the guest. Firecracker itself is not packaged: see docs/backends.md.
# chromium and fonts-dejavu-core: headless Chromium (driven by playwright-core) draws diagrams/*.svg
# with a fixed font, byte for byte the same on every run (docs/diagrams.md), and runs the
# inspector's browser test.
packages=(bubblewrap util-linux procps qemu-system-x86 e2fsprogs lz4 chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}" runsc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  runsc_from=()
  if [ "$codename" = bookworm ]; then
    # bookworm's own runsc (2022) has only the slow ptrace platform; backports has systrap.
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      say "adding bookworm-backports for a current runsc"
      echo 'deb http://deb.debian.org/debian bookworm-backports main' | as_root tee /etc/apt/sources.list.d/ironclaw-backports.list >/dev/null
    fi
    runsc_from=(-t bookworm-backports)
  fi
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  if ! as_root apt-get install -y -qq --no-install-recommends "${runsc_from[@]}" runsc >/dev/null; then
    say "runsc is not packaged for this system: the gvisor backend will be unavailable (see ironclaw doctor)" >&2
  fi
fi

say "installing npm packages (pinned Node 24, build of the CLI and guest agent)"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi

# The micro-VM guest image is assembled from Debian packages (apt-get download, no root needed).
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then as_root apt-get update -qq; fi
say "building the micro-VM guest image (kernel, initramfs, read-only root)"
bin/ironclaw image build
say "done: bin/ironclaw doctor tells which sandboxes work here"
