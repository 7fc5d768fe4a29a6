#!/usr/bin/env bash
# Provisions a CPU Vulkan driver (Mesa 25 lavapipe) so Kiln's WebGPU backend runs on a
# machine without a GPU (Debian bookworm; Dawn from npm `webgpu` needs Mesa ≥ 24's lavapipe,
# bookworm's stock 22.x gives no adapter).
#
#   scripts/provision-lavapipe.sh              # provision (idempotent), then print the env
#   eval "$(scripts/provision-lavapipe.sh --print-env)"   # just the exports (provisions if needed)
#   source scripts/lavapipe-env.sh             # the same, for an interactive shell
#
# What it does, never upgrading a system package:
#  1. as root, `apt-get install libvulkan1 mesa-vulkan-drivers` when missing (the Vulkan
#     loader and stock Mesa's runtime libraries);
#  2. downloads `mesa-vulkan-drivers` (+ the libraries its lavapipe needs that bookworm lacks,
#     found with ldd) from bookworm-backports through a PRIVATE apt state under
#     .cache/lavapipe/apt (one source entry: this machine's own Debian mirror, suite
#     bookworm-backports) and unpacks them with `dpkg -x` into .cache/lavapipe/root;
#  3. writes .cache/lavapipe/lvp_icd.json whose `library_path` is the unpacked
#     libvulkan_lvp.so's ABSOLUTE path (the shipped file names it bare, so the loader would
#     pick the stock Mesa 22 one).
# Then: VK_ICD_FILENAMES=<that json> (and LD_LIBRARY_PATH for the unpacked libraries).
set -euo pipefail

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${KILN_LAVAPIPE_CACHE:-$root_dir/.cache/lavapipe}"
icd="$cache/lvp_icd.json"
print_env_only=false
[ "${1:-}" = "--print-env" ] && print_env_only=true

log() { echo "provision-lavapipe: $*" >&2; }

print_env() {
  local libdirs
  libdirs="$(cat "$cache/libdirs" 2>/dev/null || true)"
  echo "export VK_ICD_FILENAMES='$icd'"
  if [ -n "$libdirs" ]; then
    echo "export LD_LIBRARY_PATH='$libdirs'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
  fi
}

if [ -f "$cache/done" ] && [ -f "$icd" ] && [ -f "$(sed -n 's/.*"library_path": *"\([^"]*\)".*/\1/p' "$icd")" ]; then
  $print_env_only || log "already provisioned in $cache"
  print_env
  exit 0
fi

# 1. The Vulkan loader and the stock driver's runtime dependencies.
missing=""
for p in libvulkan1 mesa-vulkan-drivers; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing system packages:$missing — run as root, or: sudo apt-get install -y$missing"
    exit 1
  fi
  log "installing$missing"
  apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }
fi

# 2. A private apt state whose one source is this machine's Debian mirror at bookworm-backports.
mirror=""
keyring="/usr/share/keyrings/debian-archive-keyring.gpg"
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  # deb822: the stanza whose Suites contain plain "bookworm" (not -security).
  uri="$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm([ \n]|$)/ && /Types:[^\n]*deb([ \n]|$)/ { if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { s=substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", s); print s; exit } }' "$f")"
  if [ -n "$uri" ]; then
    mirror="$uri"
    k="$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm([ \n]|$)/ { if (match($0, /Signed-By:[ \t]*[^ \t\n]+/)) { s=substr($0, RSTART, RLENGTH); sub(/Signed-By:[ \t]*/, "", s); print s; exit } }' "$f")"
    [ -n "$k" ] && keyring="$k"
    break
  fi
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror="$(awk '$1=="deb" && $0 ~ / bookworm / { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)"
fi
[ -n "$mirror" ] || { log "no Debian bookworm source found in /etc/apt; cannot derive bookworm-backports"; exit 1; }

apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sourceparts" "$cache/debs" "$cache/root"
cat >"$apt_dir/sourceparts/backports.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: $keyring
EOF
: >"$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/sourceparts"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::State::status=/var/lib/dpkg/status"
  -o "APT::Get::List-Cleanup=0"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
log "reading bookworm-backports from $mirror (private apt state in $apt_dir)"
apt-get "${apt_opts[@]}" update -qq >/dev/null

download() { # download and unpack packages into $cache/root
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" download "$@" >/dev/null)
  for p in "$@"; do
    for deb in "$cache/debs/${p}"_*.deb; do dpkg -x "$deb" "$cache/root"; done
  done
}
download mesa-vulkan-drivers
lvp="$(find "$cache/root" -name 'libvulkan_lvp.so' | head -1)"
[ -n "$lvp" ] || { log "libvulkan_lvp.so not found in the unpacked mesa-vulkan-drivers"; exit 1; }

# Libraries lavapipe needs that the system lacks (e.g. a newer libLLVM): fetch their
# backports packages (the Depends of mesa-vulkan-drivers that resolve a missing soname).
libdirs=""
for round in 1 2 3; do
  missing_libs="$(LD_LIBRARY_PATH="$libdirs" ldd "$lvp" | awk '/not found/ {print $1}')"
  [ -z "$missing_libs" ] && break
  log "lavapipe needs: $(echo $missing_libs)"
  pkgs=""
  deps="$(dpkg-deb -f "$(ls "$cache"/debs/mesa-vulkan-drivers_*.deb | head -1)" Depends | tr ',|' '\n\n' | awk '{print $1}' | sed 's/:any$//' | sort -u)"
  for lib in $missing_libs; do
    stem="$(echo "$lib" | sed -E 's/\.so.*//; s/^lib//')"   # libLLVM-19.so.1 → LLVM-19
    for d in $deps; do
      case "$d" in lib"$stem"*|lib"$(echo "$stem" | tr 'A-Z' 'a-z')"*) pkgs="$pkgs $d" ;; esac
    done
  done
  [ -n "$pkgs" ] || { log "no backports package found for: $missing_libs"; exit 1; }
  download $pkgs
  libdirs="$(find "$cache/root" -name '*.so*' -printf '%h\n' | sort -u | paste -sd: -)"
done
[ -z "$(LD_LIBRARY_PATH="$libdirs" ldd "$lvp" | awk '/not found/')" ] || { log "lavapipe still misses libraries:"; LD_LIBRARY_PATH="$libdirs" ldd "$lvp" | grep 'not found' >&2; exit 1; }
echo -n "$libdirs" >"$cache/libdirs"

# 3. The ICD file naming the unpacked driver by absolute path.
src_icd="$(find "$cache/root" -name 'lvp_icd*.json' | head -1)"
[ -n "$src_icd" ] || { log "lvp_icd.json not found in the unpacked package"; exit 1; }
sed -E "s#\"library_path\": *\"[^\"]*\"#\"library_path\": \"$lvp\"#" "$src_icd" >"$icd"
touch "$cache/done"
$print_env_only || log "lavapipe $(dpkg-deb -f "$(ls "$cache"/debs/mesa-vulkan-drivers_*.deb | head -1)" Version) ready: $icd"
print_env
