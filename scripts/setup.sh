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
# inspector's browser test. keyutils: each sandbox starts in a fresh, empty session keyring.
packages=(bubblewrap util-linux procps keyutils qemu-system-x86 e2fsprogs lz4 chromium fonts-dejavu-core)
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

# Sandboxes never hold host uid 0: as root, each namespace sandbox (and each QEMU process) runs
# under its own block of 65,536 host ids from a subordinate range reserved for the system user
# `ironclaw`, above every id and range already in use (docs/security.md).
ids_blocks=64
if ! getent passwd ironclaw >/dev/null; then
  say "adding the system user ironclaw (owns the sandboxes' host ids; no login, no home)"
  as_root useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ironclaw
fi
if ! grep -qs '^ironclaw:' /etc/subuid || ! grep -qs '^ironclaw:' /etc/subgid; then
  top=$(cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: 'NF>=3 { e = $2 + $3; if (e > m) m = e } END { print m + 0 }')
  ids_top=$(getent passwd | awk -F: '{ if ($3 > m && $3 < 4294967294) m = $3 } END { print m + 1 }')
  gids_top=$(getent group | awk -F: '{ if ($3 > m && $3 < 4294967294) m = $3 } END { print m + 1 }')
  for t in "$ids_top" "$gids_top"; do [ "$t" -gt "$top" ] && top=$t; done
  [ "$top" -lt 1048576 ] && top=1048576
  start=$(( (top + 65535) / 65536 * 65536 ))
  end=$(( start + ids_blocks * 65536 - 1 ))
  say "reserving host ids $start-$end for sandboxes (/etc/subuid, /etc/subgid: user ironclaw)"
  as_root usermod --add-subuids "$start-$end" --add-subgids "$start-$end" ironclaw
fi

say "installing npm packages (pinned Node 24, build of the CLI and guest agent)"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi

# The micro-VM guest image is assembled from Debian packages (apt-get download, no root needed).
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then as_root apt-get update -qq; fi
say "building the micro-VM guest image (kernel, initramfs, read-only root)"
bin/ironclaw image build
say "done: bin/ironclaw doctor tells which sandboxes work here"
