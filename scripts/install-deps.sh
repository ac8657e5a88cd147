#!/bin/sh
# Installs the Debian packages libdrpc needs, when any is missing.
# Called by make before the first build; safe to run again (it only checks).
set -eu

PACKAGES="build-essential check libprotobuf-c-dev protobuf-c-compiler \
protobuf-compiler libprotobuf-dev libprotoc-dev pkg-config clang \
libclang-rt-14-dev valgrind"

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
