# Shared by testnet/up, down and exec: where things are.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${TESTNET_PREFIX:-tn}
state="$root/testnet/.state/$prefix"
bin=${THREADS_BIN:-$root/.build/debug}

die() { echo "testnet: $*" >&2; exit 1; }
need_root() {
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces); run as root or with sudo"
    command -v ip >/dev/null || die "the 'ip' command (iproute2) is missing: apt-get install -y iproute2"
}
