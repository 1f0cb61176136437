#!/usr/bin/env bash
# Installs the system packages the librdkafka client (@confluentinc/kafka-javascript) is compiled
# against: a C/C++ toolchain and the -dev packages of OpenSSL, zlib, zstd, LZ4 and SASL. Debian/Ubuntu
# only; elsewhere it prints what to install. Nothing is downloaded but distribution packages.
set -euo pipefail

packages=(build-essential python3 pkg-config libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev)

if ! command -v dpkg-query >/dev/null; then
  echo "native-deps: not a Debian-like system; install a C++ toolchain and the OpenSSL, zlib, zstd, LZ4 and SASL development packages yourself" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
    echo "native-deps: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "native-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
