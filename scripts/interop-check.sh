#!/bin/sh
# drpc-interop check against drpc-interop serve, in every mode pair:
# servers in the automatic mode, with flow control on, and one that answers
# no hello (a plain DRPC server to clients, as upstream Go DRPC is); clients
# in the default mode, one stream at a time, multiplexing from the start,
# and with flow control off or on. Usage: interop-check.sh BIN DIR
set -u
bin=$1
dir=$2
failed=0

# run SERVER-ARGS -- CLIENT-ARGS... (one client run per ';'-separated set)
run() {
	sargs=$1
	shift
	sock="$dir/interop-$$.sock"
	rm -f "$sock"
	# shellcheck disable=SC2086 # the arguments split on purpose
	"$bin" serve "unix://$sock" $sargs >/dev/null &
	pid=$!
	i=0
	while [ ! -S "$sock" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	for cargs in "$@"; do
		echo "== server [$sargs] client [$cargs]"
		# shellcheck disable=SC2086
		if ! "$bin" check "unix://$sock" $cargs; then
			failed=1
		fi
	done
	kill -INT $pid
	if ! wait $pid; then
		echo "== server [$sargs] did not exit cleanly"
		failed=1
	fi
	rm -f "$sock"
}

run "" "" "--one-stream" "--multiplex on" "--flow off" \
	"--flow off --multiplex on"
run "--flow on" "--flow on" "--flow on --multiplex on"
run "--multiplex off" "" "--multiplex off" "--flow off" "--flow off --multiplex off"
run "--flow off" "" "--multiplex on"
exit $failed
