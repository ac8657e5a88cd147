#!/usr/bin/env bash
# check-examples.sh: the examples of README.md, docs/api.md and
# docs/codegen.md, built as a user builds them and run.
#
# libdrpc is installed with `make install PREFIX=build/examples/inst`;
# every program is compiled with `cc ... $(pkg-config --cflags --libs drpc)`
# (PKG_CONFIG_PATH pointing there, -Wall -Wextra -Werror added) and run,
# found by the dynamic linker through LD_LIBRARY_PATH (README's programs,
# docs/api.md's), an rpath (docs/codegen.md's, as that page builds them)
# or linked statically (README's client once more). The C blocks are taken
# from the documents as they are; only the port changes (the documents say
# 7070; a free one is picked, so parallel runs do not collide). docs/api.md's
# fragments (the blocks without a main) run in order, each in a block of
# one client program, as that page says they do. Every client's output is
# compared with what the documents say it prints, and every server must
# exit 0 after SIGTERM (a graceful shutdown).
#
# Usage: scripts/check-examples.sh (or make check-examples). Takes a few
# seconds; needs the build packages (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

out=$PWD/build/examples
inst=$out/inst
export PKG_CONFIG_PATH=$inst/lib/pkgconfig
warn=(-Wall -Wextra -Werror)
pids=()

fail() {
	echo "check-examples: $*" >&2
	exit 1
}

cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT

# blocks FILE LANG DIR: writes each ```LANG block of FILE into DIR as
# NN.LANG, numbered from 01 in document order.
blocks() {
	mkdir -p "$3"
	awk -v lang="$2" -v dir="$3" '
		$0 == "```" lang { n++; f = sprintf("%s/%02d.%s", dir, n, lang); on = 1; next }
		on && /^```/ { on = 0; close(f); next }
		on { print > f }
	' "$1"
}

# with_port SRC DST: SRC with the documents' port replaced by $port.
with_port() {
	sed "s/127\.0\.0\.1:7070/127.0.0.1:$port/g" "$1" >"$2"
}

# start_server BIN [ENV...]: runs BIN in the background and waits until
# it accepts connections on $port; returns 1 if it exited first (the port
# was taken, say).
start_server() {
	local bin=$1
	shift
	env "$@" "$bin" >"$bin.out" 2>&1 &
	server=$!
	pids+=("$server")
	for _ in $(seq 100); do
		if ! kill -0 "$server" 2>/dev/null; then
			wait "$server" || true
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	fail "$bin never listened on port $port"
}

# stop_server: SIGTERM, then the server must exit 0.
stop_server() {
	kill -TERM "$server"
	if ! wait "$server"; then
		cat "$bin.out" >&2 || true
		fail "a server did not shut down cleanly"
	fi
}

# expect NAME WANT GOT: the output of NAME must be WANT.
expect() {
	if [ "$2" != "$3" ]; then
		fail "$(printf '%s printed:\n%s\nwant:\n%s' "$1" "$3" "$2")"
	fi
	echo "check-examples: $1: ok"
}

# pick_port: a port for this try.
pick_port() {
	port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
}

echo "check-examples: make install PREFIX=$inst"
rm -rf "$out"
mkdir -p "$out"
${MAKE:-make} -s install PREFIX="$inst" >/dev/null
drpc_cflags=$(pkg-config --cflags drpc)
drpc_libs=$(pkg-config --libs drpc)
case "$drpc_libs" in
*-lprotobuf-c*) ;;
*) fail "pkg-config --libs drpc lacks protobuf-c: $drpc_libs" ;;
esac

blocks README.md c "$out/readme"
blocks docs/api.md c "$out/api"
blocks docs/codegen.md c "$out/codegen"
blocks docs/codegen.md proto "$out/codegen"

# The api.md fragments, in order, each in a block of one client's main.
{
	echo '#include <drpc/drpc.h>'
	echo '#include <stdio.h>'
	echo 'int main(void) {'
	echo 'drpc_conn *c; void *reply; size_t len; drpc_err rv;'
	echo 'if (drpc_dial(&c, "tcp://127.0.0.1:7070", NULL) != DRPC_OK) return 1;'
	for f in "$out"/api/*.c; do
		if ! grep -q '^main(' "$f"; then
			echo "{"
			cat "$f"
			echo "}"
			printf 'printf("[%s] %%s\\n", drpc_err_name(rv));\n' \
				"$(basename "$f" .c)"
		fi
	done
	echo 'drpc_conn_destroy(c);'
	echo 'return 0;'
	echo '}'
} >"$out/api/fragments.txt"

# build_c: README's and api.md's programs for $port.
build_c() {
	local d
	for d in readme api; do
		for f in "$out/$d"/*.c; do
			grep -q '^main(' "$f" || continue
			with_port "$f" "$f.port.c"
			# shellcheck disable=SC2086 # pkg-config's words
			cc "${warn[@]}" "$f.port.c" $drpc_cflags $drpc_libs \
				-o "${f%.c}"
		done
	done
	with_port "$out/api/fragments.txt" "$out/api/fragments.c"
	# shellcheck disable=SC2086
	cc "${warn[@]}" "$out/api/fragments.c" $drpc_cflags $drpc_libs \
		-o "$out/api/fragments"
	# README's client once more, linked statically.
	# shellcheck disable=SC2086,SC2046
	cc "${warn[@]}" "$out/readme/02.c.port.c" $drpc_cflags \
		"$inst/lib/libdrpc.a" $(pkg-config --libs libprotobuf-c openssl) \
		-pthread -o "$out/readme/client-static"
}

ld=LD_LIBRARY_PATH=$inst/lib

# README: the echo server and its client.
for try in 1 2 3; do
	pick_port
	build_c
	bin=$out/readme/01
	start_server "$bin" "$ld" && break
	[ "$try" -lt 3 ] || fail "README's server would not listen"
done
expect "README client" "hi" "$(env "$ld" "$out/readme/02")"
expect "README client (static)" "hi" "$("$out/readme/client-static")"
stop_server

# docs/api.md: the server, the client, the fragments.
bin=$out/api/01
start_server "$bin" "$ld" || fail "api.md's server would not listen"
expect "api.md client" "hello, world" "$(env "$ld" "$out/api/02")"
expect "api.md channel client" "hello, world" "$(env "$ld" "$out/api/08")"
expect "api.md fragments" "$(printf '%s\n' 1 2 3 4 5 '[03] DRPC_EOF' \
	'hello, x' '[04] DRPC_OK' 'hello, x' '[05] DRPC_OK' \
	'hello, x' '[06] DRPC_OK' '[07] DRPC_OK')" \
	"$(env "$ld" "$out/api/fragments")"
stop_server

# docs/codegen.md: greeter.proto through the installed plugin, its server
# and client built as the page builds them (an rpath, no LD_LIBRARY_PATH).
cg=$out/codegen
cp "$cg/01.proto" "$cg/greeter.proto"
protoc --plugin=protoc-gen-drpc-c="$inst/bin/protoc-gen-drpc-c" \
	--proto_path="$cg" --c_out="$cg" --drpc-c_out="$cg" "$cg/greeter.proto"
cg_flags="$(pkg-config --cflags --libs drpc) -pthread \
-Wl,-rpath,$(pkg-config --variable=libdir drpc)"
for f in 01 02; do
	with_port "$cg/$f.c" "$cg/$f.port.c"
	# shellcheck disable=SC2086
	cc "${warn[@]}" -I"$cg" -o "$cg/$f" "$cg/$f.port.c" "$cg/greeter.pb-c.c" \
		"$cg/greeter.drpc.c" $cg_flags
done
bin=$cg/01
start_server "$bin" || fail "codegen.md's server would not listen"
expect "codegen.md client" "$(printf '%s\n' 'hello, Ada' 3 2 1)" \
	"$("$cg/02" Ada)"
stop_server

echo "check-examples: every example built and ran as documented"
