#!/bin/sh
# Installs the Debian packages libdrpc needs, when any is missing; safe to
# run again (it only checks). make calls it before the first build.
#
#   sh scripts/install-deps.sh          building the library, its tools and
#                                       protoc-gen-drpc-c (make run, make
#                                       install, make lib)
#   sh scripts/install-deps.sh --test   that, plus the test tools: Check
#                                       (make, make check), valgrind (make
#                                       valgrind), clang with libFuzzer
#                                       (make fuzz), the openssl CLI (the
#                                       tls_interop suite's peer)
#
# A program linked with an installed libdrpc needs only protobuf-c's and
# OpenSSL's runtime libraries (libprotobuf-c1, libssl3) to run, and
# libprotobuf-c-dev, libssl-dev and pkg-config to build.
set -eu

# protoc-c and protoc generate code (the plugin's own protos, the demo's);
# libprotobuf-dev and libprotoc-dev hold descriptor.proto and plugin.proto;
# libssl-dev is OpenSSL, for the TLS transport.
BUILD_PACKAGES="build-essential pkg-config libprotobuf-c-dev libssl-dev \
protobuf-c-compiler protobuf-compiler libprotobuf-dev libprotoc-dev"
TEST_PACKAGES="check valgrind clang libclang-rt-14-dev openssl"

case "${1:-}" in
"") PACKAGES=$BUILD_PACKAGES ;;
--test) PACKAGES="$BUILD_PACKAGES $TEST_PACKAGES" ;;
*)
	echo "usage: sh scripts/install-deps.sh [--test]" >&2
	exit 2
	;;
esac

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

echo "libdrpc: installing missing packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO=sudo
	else
		echo "libdrpc: these Debian packages are missing:$missing" >&2
		echo "libdrpc: run as root, or install them with:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
		exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086 # word splitting of the list is intended
$SUDO apt-get install -y --no-install-recommends $missing
