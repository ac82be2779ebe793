#!/bin/sh
# initramfs.sh - build the busybox initramfs of pynet's VM lab (cni/lab/vm.py runs it and caches
# the result, keyed on the kernel version and this script's hash).
# From shared/tools/vmlab/build-initramfs.sh; changes: 9p shares "hostfs" (read-only, cache=loose)
# and "share" (writable, on /hostfs/tmp/share), /hostfs prepared for chroot, hostrun().
#
# Usage (as root or any user that can read /lib/modules):
#   initramfs.sh OUTPUT.cpio.gz [KVER]
#
# Needs (Debian): busybox-static, kmod, iproute2, cpio, gzip, and a kernel
# package whose modules are in /lib/modules/KVER (linux-image-amd64).
# KVER defaults to the newest /boot/vmlinuz-* on this machine.
#
# The image contains:
#   /bin/busybox (+ applet links), /sbin/ip from iproute2 (busybox's `ip`
#   cannot create ipvlan/vxlan links) with the shared libraries it needs,
#   the network modules below (and their dependencies) plus an ordered
#   load list, and /init (see the heredoc below).
#
# Per-VM commands: append a second cpio archive that contains /vmlab.sh
# (the kernel unpacks concatenated archives in order; vm.py writes it).
# /init runs /vmlab.sh if present, prints its exit code and powers off.
# Without /vmlab.sh it starts a shell on the serial console.
set -eu

OUT=${1:?usage: $0 OUTPUT.cpio.gz [KVER]}
KVER=${2:-$(ls -1 /boot/vmlinuz-* | sed 's|/boot/vmlinuz-||' | sort -V | tail -n1)}
MODDIR=/lib/modules/$KVER
[ -d "$MODDIR" ] || { echo "no $MODDIR" >&2; exit 1; }

# Modules to load in the guest, in this order (dependencies are resolved
# with modprobe --show-depends on the build host).
MODULES="virtio virtio_ring virtio_pci virtio_net virtio_console
  9pnet_virtio 9p overlay
  bridge veth macvlan ipvlan vxlan geneve 8021q dummy tun wireguard"

BUSYBOX=$(command -v busybox)
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "error: $BUSYBOX is dynamically linked; install busybox-static" >&2; exit 1
fi
IP=$(command -v ip)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
mkdir -p "$R"/bin "$R"/sbin "$R"/etc "$R"/proc "$R"/sys "$R"/dev "$R"/run \
         "$R"/tmp "$R"/mnt "$R"/var "$R"/lib/modules/"$KVER" "$R"/usr/bin "$R"/usr/sbin
ln -s ../run "$R"/var/run   # iproute2 keeps named netns in /var/run/netns

cp "$BUSYBOX" "$R"/bin/busybox
for a in $("$BUSYBOX" --list); do
  [ "$a" = busybox ] && continue
  [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done

# iproute2 ip + its libraries (copied to the same absolute paths).
rm -f "$R"/bin/ip
cp "$IP" "$R"/sbin/ip
ldd "$IP" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r lib; do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
# ld.so is looked up as /lib64/ld-linux-x86-64.so.2
if [ -e /lib64/ld-linux-x86-64.so.2 ] && [ ! -e "$R"/lib64/ld-linux-x86-64.so.2 ]; then
  mkdir -p "$R"/lib64; cp -L /lib64/ld-linux-x86-64.so.2 "$R"/lib64/
fi

# Kernel modules in dependency order.
: > "$R"/etc/modules.order
for m in $MODULES; do
  modprobe -S "$KVER" --show-depends "$m" 2>/dev/null | awk '$1=="insmod"{print $2}' | while read -r ko; do
    grep -qxF "$ko" "$R"/etc/modules.order && continue
    mkdir -p "$R$(dirname "$ko")"
    cp "$ko" "$R$ko"
    echo "$ko" >> "$R"/etc/modules.order
  done
done
cp "$MODDIR"/modules.order "$MODDIR"/modules.builtin "$R"/lib/modules/"$KVER"/ 2>/dev/null || true
depmod -b "$R" "$KVER" 2>/dev/null || true

echo 'root:x:0:0:root:/root:/bin/sh' > "$R"/etc/passwd
echo 'root:x:0:' > "$R"/etc/group

# busybox-static's ash runs its own applets in preference to $PATH, so a
# plain `ip` would be busybox's (no ipvlan/vxlan/netns). Scripts source this.
cat > "$R"/etc/vmlab-lib.sh <<'EOF'
ip() { /sbin/ip "$@"; }
# hostrun DIR CMD...: run a program of the host's filesystem (chroot /hostfs) in DIR.
hostrun() { d=$1; shift; chroot /hostfs /bin/sh -c 'cd "$0" && exec "$@"' "$d" "$@"; }
EOF

cat > "$R"/init <<'EOF'
#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns /dev/pts
mount -t devpts devpts /dev/pts 2>/dev/null
# So `ip netns add` works (it bind-mounts under /run/netns).
mount --make-shared /run 2>/dev/null
while read -r ko; do insmod "$ko" 2>/dev/null; done < /etc/modules.order
ip link set lo up
hostname "$(sed -n 's/.*vmlab.hostname=\([^ ]*\).*/\1/p' /proc/cmdline)" 2>/dev/null
echo "VMLAB-READY uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)"
# Optional: a writable host directory (results), /tmp/share (also for hostrun programs)
if grep -q share /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag 2>/dev/null; then
  mkdir -p /tmp/share && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share /tmp/share \
    && echo "VMLAB-SHARE mounted"
fi
# Optional: host directory shared with -virtfs ... mount_tag=hostfs. The guest's own /tmp hides the
# host's there, but for the paths in vmlab.tmpkeep= (pynet in a clone under /tmp), bound in first.
if grep -q hostfs /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag 2>/dev/null; then
  # cache=loose: the share is read-only, and Python's imports are far faster with it
  mkdir -p /hostfs && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose hostfs /hostfs \
    && for p in $(sed -n 's/.*vmlab.tmpkeep=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' '); do \
         mkdir -p "$p" && mount --bind "/hostfs$p" "$p"; done \
    && for d in proc sys dev run tmp; do mount --rbind /$d /hostfs/$d; done \
    && echo "VMLAB-HOSTFS mounted"
fi
if [ -f /vmlab.sh ]; then
  ( . /etc/vmlab-lib.sh; . /vmlab.sh )
  echo "VMLAB-EXIT rc=$?"
  sync
  poweroff -f
fi
echo "no /vmlab.sh: starting a shell on the console (poweroff -f to stop)"
export ENV=/etc/vmlab-lib.sh
exec setsid cttyhack sh
EOF
chmod 755 "$R"/init

( cd "$R" && find . | cpio -o -H newc --quiet ) | gzip -1 > "$OUT"
echo "built $OUT for kernel $KVER ($(du -h "$OUT" | cut -f1))"
