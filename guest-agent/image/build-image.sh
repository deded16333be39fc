#!/usr/bin/env bash
# Builds the IronClaw microVM guest image without root: no loop mounts, no chroot, no mknod.
# Run by `ironclaw image build` (src/cli/image.command.ts), which sets the variables below,
# shows the `== step` lines as progress, and hashes and files the result.
#   $OUT/vmlinuz            Debian's cloud kernel (linux-image-*-cloud-amd64)
#   $OUT/vmlinux            the same kernel uncompressed, when lz4 is there (PVH entry: faster boot)
#   $OUT/initramfs.cpio.gz  busybox-static + virtio/overlay (+ vsock, loaded on demand) modules + /init
#   $OUT/rootfs.ext4        read-only root: busybox, glibc/libstdc++/libgcc, node, the guest agent
#                           and its V8 startup snapshot (what the guest runs), socat with its
#                           libraries (the agent's vsock bridge under Firecracker),
#                           and crng-reseed (crng-reseed.S: the agent reseeds the kernel CRNG on resume)
# Needs: apt-get (download only), dpkg-deb, mke2fs/debugfs (e2fsprogs), gzip, coreutils.
# cpio is not needed: busybox-static's own cpio creates newc archives.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:?set WORK to a scratch directory}
OUT=${OUT:?set OUT to the output directory}
NODE_BIN=${NODE_BIN:?set NODE_BIN to the Node binary for the guest}
AGENT=${AGENT:?set AGENT to the bundled guest agent}
AGENT_SNAPSHOT_ENTRY=${AGENT_SNAPSHOT_ENTRY:?set AGENT_SNAPSHOT_ENTRY to the guest agent bundled as CommonJS}
[ -f "$AGENT_SNAPSHOT_ENTRY" ] || { echo "no $AGENT_SNAPSHOT_ENTRY: run npm run build" >&2; exit 1; }
KERNEL_META=${KERNEL_META:-linux-image-cloud-amd64}
# Modules the guest needs, by module name; dependencies are added automatically.
# ext4 (+jbd2, mbcache, crc32c) is built into the cloud kernel, so it is not listed.
MODULES=${MODULES:-"virtio_mmio virtio_blk virtio_console overlay"}
# Loaded only when the kernel command line asks for the agent on vsock (Firecracker, which has
# no virtio-serial): QEMU boots do not pay for them.
VSOCK_MODULES=${VSOCK_MODULES:-"vmw_vsock_virtio_transport"}

log() { printf '\n== %s\n' "$*"; }

mkdir -p "$WORK/debs" "$OUT"

# ── 1. download the .debs (apt-get download works unprivileged; it only writes to cwd) ──
log "resolving packages"
KPKG=$(apt-cache depends "$KERNEL_META" | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$KPKG" ] || { echo "cannot resolve $KERNEL_META to a versioned kernel package (run apt-get update?)" >&2; exit 1; }
PKGS=("$KPKG" busybox-static libc6 libstdc++6 libgcc-s1)
# socat bridges vsock to the guest agent (Node cannot open AF_VSOCK sockets). Its libraries are
# whatever its package depends on, resolved here rather than listed, so a distribution's
# renamed library packages (libssl3 vs libssl3t64) need no edit.
SOCAT_PKGS=()
while read -r p; do
  case " ${PKGS[*]} " in *" $p "*) ;; *) SOCAT_PKGS+=("$p") ;; esac
done < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances socat \
           | grep -v '^ ' | grep -v '^<' | sort -u)
case " ${SOCAT_PKGS[*]} " in *" socat "*) ;; *) echo "cannot resolve socat's dependencies (run apt-get update?)" >&2; exit 1 ;; esac
PKGS+=("${SOCAT_PKGS[@]}")
for p in "${PKGS[@]}"; do
  printf '  %-36s %s\n' "$p" "$(apt-cache policy "$p" | awk '/Candidate:/{print $2}')"
done
(
  cd "$WORK/debs"
  missing=()
  for p in "${PKGS[@]}"; do ls "${p}"_*.deb >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then apt-get download "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true; fi
)
deb() { ls "$WORK/debs/$1"_*.deb | head -1; }

# ── 2. extract ──
log "extracting"
rm -rf "$WORK/x" && mkdir -p "$WORK/x"
for p in "${PKGS[@]}"; do
  mkdir -p "$WORK/x/$p" && dpkg-deb -x "$(deb "$p")" "$WORK/x/$p"
done
KDIR=$WORK/x/$KPKG
KVER=$(ls "$KDIR/lib/modules")
BB=$WORK/x/busybox-static/bin/busybox
echo "  kernel release: $KVER"
cp "$KDIR/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$KDIR/boot/config-$KVER" "$OUT/config-$KVER"
# Also unpack the bzImage's payload into an uncompressed ELF vmlinux: the kernel has
# CONFIG_PVH=y, so QEMU's microvm can enter it directly through the PVH ELF note, skipping
# the real-mode setup + LZ4 self-decompression (≈0.5 s under TCG). Debian compresses with LZ4
# (CONFIG_KERNEL_LZ4); needs the `lz4` tool. Without it, qemu.sh boots the bzImage.
rm -f "$OUT/vmlinux"
if grep -q '^CONFIG_PVH=y' "$KDIR/boot/config-$KVER" && grep -q '^CONFIG_KERNEL_LZ4=y' "$KDIR/boot/config-$KVER" && command -v lz4 >/dev/null; then
  # LZ4 legacy frame magic 02 21 4c 18; the first hit is the payload.
  off=$(LC_ALL=C grep -obUaP '\x02\x21\x4c\x18' "$OUT/vmlinuz" | head -1 | cut -d: -f1)
  if [ -n "$off" ]; then
    tail -c +$((off + 1)) "$OUT/vmlinuz" | lz4 -dc > "$OUT/vmlinux" 2>/dev/null || true   # trailing data after the frame makes lz4 complain
    if ! head -c 4 "$OUT/vmlinux" | grep -q 'ELF'; then rm -f "$OUT/vmlinux"; echo "  (vmlinux extraction failed; will boot the bzImage)"; fi
  fi
else
  echo "  (no lz4 tool or not PVH/LZ4: will boot the bzImage)"
fi

# ── 3. module closure in load order (dependencies first), from each .ko's modinfo ──
# The .deb ships no modules.dep (depmod runs at install time), so read the `depends=` tag
# of the .ko's .modinfo section (NUL-separated strings) directly.
MODROOT=$KDIR/lib/modules/$KVER
declare -A KO_PATH=()
while IFS= read -r f; do
  n=$(basename "$f" .ko); KO_PATH[${n//-/_}]=${f#"$MODROOT/"}
done < <(find "$MODROOT/kernel" -name '*.ko')
declare -A SEEN=()
ORDER=()
visit() {
  local m=${1//-/_} dep deps
  [ -n "${SEEN[$m]:-}" ] && return
  SEEN[$m]=1
  if [ -z "${KO_PATH[$m]:-}" ]; then
    if grep -q "/$m.ko\$" "$MODROOT/modules.builtin" 2>/dev/null || grep -q "/${m//_/-}.ko\$" "$MODROOT/modules.builtin" 2>/dev/null; then
      echo "  $m is built in"; return
    fi
    echo "module $m not found" >&2; exit 1
  fi
  deps=$(tr '\0' '\n' < "$MODROOT/${KO_PATH[$m]}" | sed -n 's/^depends=//p' | head -1)
  for dep in ${deps//,/ }; do visit "$dep"; done
  ORDER+=("${KO_PATH[$m]}")
}
for m in $MODULES ext4; do visit "$m"; done
echo "  load order:"; printf '    %s\n' "${ORDER[@]}"
BASE_ORDER=("${ORDER[@]}")
ORDER=()
for m in $VSOCK_MODULES; do visit "$m"; done   # SEEN keeps what the base list already loads
VSOCK_ORDER=("${ORDER[@]}")
echo "  vsock load order:"; printf '    %s\n' "${VSOCK_ORDER[@]}"

# ── 4. initramfs ──
log "initramfs"
IR=$WORK/initramfs
rm -rf "$IR" && mkdir -p "$IR"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,etc,mnt/lower,mnt/rw,newroot,lib/modules/"$KVER"}
cp "$BB" "$IR/bin/busybox"
for a in $("$BB" --list-full); do [ -e "$IR/$a" ] || ln -s /bin/busybox "$IR/$a"; done
for ko in "${BASE_ORDER[@]}" "${VSOCK_ORDER[@]}"; do
  mkdir -p "$IR/lib/modules/$KVER/$(dirname "$ko")"
  cp "$MODROOT/$ko" "$IR/lib/modules/$KVER/$ko"
done
printf '%s\n' "${BASE_ORDER[@]}" > "$IR/etc/modules.load"
printf '%s\n' "${VSOCK_ORDER[@]}" > "$IR/etc/modules.vsock"
install -m 0755 "$HERE/init" "$IR/init"
# busybox cpio -o -H newc creates the archive; -R 0:0 makes every entry root-owned even
# when the builder is not root. (No /dev/console node: /init mounts devtmpfs first.)
( cd "$IR" && find . -mindepth 1 | LC_ALL=C sort | "$BB" cpio -o -H newc -R 0:0 2>/dev/null ) | gzip -9 > "$OUT/initramfs.cpio.gz"

# ── 5. root filesystem ──
log "rootfs"
RF=$WORK/rootfs
rm -rf "$RF" && mkdir -p "$RF"
for p in libc6 libstdc++6 libgcc-s1; do cp -a "$WORK/x/$p/." "$RF/"; done
# Keep only the shared libraries and the loader (lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...).
rm -rf "$RF/usr/share" "$RF/usr/bin" "$RF/usr/sbin" "$RF/sbin" "$RF/usr/libexec" \
       "$RF/usr/lib/x86_64-linux-gnu/gconv" "$RF/usr/lib/x86_64-linux-gnu/audit"
mkdir -p "$RF"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,opt/ironclaw,var/tmp}
chmod 1777 "$RF/tmp" "$RF/var/tmp"; chmod 0700 "$RF/root"
cp "$BB" "$RF/bin/busybox"
for a in $("$BB" --list-full); do [ -e "$RF/$a" ] || [ -L "$RF/$a" ] || ln -s /bin/busybox "$RF/$a"; done
# socat and the shared objects of its dependencies (libraries only: their /etc, docs and
# engines are not needed for a vsock-to-pipe bridge).
cp "$WORK/x/socat/usr/bin/socat" "$RF/usr/bin/socat"
for p in "${SOCAT_PKGS[@]}"; do
  [ "$p" = socat ] && continue
  for d in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
    [ -d "$WORK/x/$p/$d" ] || continue
    mkdir -p "$RF/$d"
    find "$WORK/x/$p/$d" -maxdepth 1 \( -type f -o -type l \) -name '*.so*' -exec cp -a {} "$RF/$d/" \;
  done
done
# Every library socat needs must resolve inside the rootfs: ask the rootfs's own loader, and
# fail the build on anything it found only on the build host (or not at all).
LOADER=
for l in "$RF"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$RF"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
  [ -e "$l" ] && { LOADER=$l; break; }
done
[ -n "$LOADER" ] || { echo "no dynamic loader in the rootfs" >&2; exit 1; }
if ! deps=$("$LOADER" --library-path "$RF/lib/x86_64-linux-gnu:$RF/usr/lib/x86_64-linux-gnu" --list "$RF/usr/bin/socat" 2>&1); then
  echo "socat does not load from the rootfs: $deps" >&2; exit 1
fi
if outside=$(printf '%s\n' "$deps" | grep '=>' | grep -v "=> $RF/" | grep -v 'linux-vdso'); then
  echo "socat needs libraries the rootfs lacks:" >&2; echo "$outside" >&2; exit 1
fi
cp "$NODE_BIN" "$RF/opt/ironclaw/node"
cp "$AGENT" "$RF/opt/ironclaw/guest-agent.mjs"
# The agent's V8 startup snapshot, made by the very Node binary the image carries (a snapshot
# runs only on the Node that built it): under TCG, compiling and evaluating the bundle (Effect
# Schema above all) took ≈ 0.6 s of a cold boot, and the snapshot's heap already holds it all.
# Node warns that child_process is not verified in snapshots: the agent only spawns after the
# snapshot is restored, never while it is built. Then check it: started on an empty input, the
# agent must say hello and exit 75 (the host went away).
"$NODE_BIN" --snapshot-blob "$RF/opt/ironclaw/guest-agent.blob" --build-snapshot "$AGENT_SNAPSHOT_ENTRY"
rc=0; "$NODE_BIN" --snapshot-blob "$RF/opt/ironclaw/guest-agent.blob" </dev/null >"$WORK/snapshot-hello" || rc=$?
if [ "$rc" != 75 ] || ! grep -aq '"type":"hello"' "$WORK/snapshot-hello"; then
  echo "the guest agent's startup snapshot does not start (exit $rc)" >&2; exit 1
fi
install -m 0755 "$HERE/stage2-init" "$RF/opt/ironclaw/init"
# crng-reseed makes the kernel reseed its CRNG now (ioctl RNDRESEEDCRNG); the agent runs it when
# a VM restored from a snapshot resumes, since every clone wakes with the snapshot's CRNG key.
# Node has no ioctl, and a write to /dev/urandom does not reseed. The 176 bytes are what
# crng-reseed.S assembles to (it says how to regenerate them), so the build needs no compiler.
base64 -d > "$RF/opt/ironclaw/crng-reseed" <<'ELF'
f0VMRgIBAQAAAAAAAAAAAAIAPgABAAAAeABAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAEAAOAABAEAAAAAAAAEAAAAFAAAAAAAA
AAAAAAAAAEAAAAAAAAAAQAAAAAAAsAAAAAAAAACwAAAAAAAAAAAQAAAAAAAAuAIAAABIjT0fAAAAMfYPBYnHuBAAAAC+B1IAADHS
DwX32InHuDwAAAAPBS9kZXYvdXJhbmRvbQA=
ELF
chmod 0755 "$RF/opt/ironclaw/crng-reseed"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$RF/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > "$RF/etc/group"
printf 'ironclaw\n' > "$RF/etc/hostname"
printf '127.0.0.1 localhost ironclaw\n::1 localhost\n' > "$RF/etc/hosts"
echo "$KVER" > "$RF/etc/ironclaw-kernel"

# mke2fs -d copies the tree into a fresh image file: no mount needed. No journal (the root is
# mounted read-only, so there is nothing to replay and nothing to go stale in a snapshot).
KB=$(du -sk "$RF" | cut -f1)
SIZE_KB=$(( KB + KB / 8 + 8192 ))
rm -f "$OUT/rootfs.ext4"
mke2fs -q -F -t ext4 -O ^has_journal -L ironclaw-root -m 0 -b 4096 -E root_owner=0:0 \
  -d "$RF" "$OUT/rootfs.ext4" "${SIZE_KB}k"
# -d keeps the builder's uid/gid on every file; when not root, rewrite them to 0 with debugfs
# (which edits the image file directly, again without mounting).
if [ "$(id -u)" != 0 ]; then
  ( cd "$RF" && find . -mindepth 1 | sed 's|^\.||' | while IFS= read -r f; do
      printf 'sif "%s" uid 0\nsif "%s" gid 0\n' "$f" "$f"; done ) > "$WORK/chown.debugfs"
  debugfs -w -f "$WORK/chown.debugfs" "$OUT/rootfs.ext4" >/dev/null 2>"$WORK/debugfs.err" || { cat "$WORK/debugfs.err"; exit 1; }
fi
e2fsck -fn "$OUT/rootfs.ext4" >/dev/null 2>&1 || { echo "rootfs fails e2fsck" >&2; e2fsck -fn "$OUT/rootfs.ext4"; exit 1; }

echo "$KVER" > "$OUT/KERNEL_RELEASE"
log "done"
