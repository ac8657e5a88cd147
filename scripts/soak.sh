#!/bin/sh
# soak.sh: run the Check suites again and again on a fully loaded machine,
# to show that no test depends on timing (test/README.md).
#
# Each run starts two copies of the same build's suite at the same time, so
# the two cores are busy for the whole run; both copies count. A run fails
# if either copy fails (non-zero exit status, a failed check, a sanitizer
# report). The log of a failed copy is kept in build/soak/ (BUILD-RUN-a.log
# and -b.log) until the next soak of that build; passing logs are deleted.
#
# Usage (from the project's root; `make soak` builds the binaries first):
#   scripts/soak.sh
# Environment:
#   SOAK_RUNS      runs of the release build (20)
#   SOAK_SAN_RUNS  runs of the tsan and asan builds (5 each)
#   SOAK_BUILDS    the builds to soak, in order ("release tsan asan")
#   CK_RUN_SUITE, CK_RUN_CASE  as for check_drpc: soak one suite or case
#
# Prints one line per run and a summary line per build:
#   soak: release: 20 runs, 0 failures
# and exits non-zero if anything failed.

set -u

runs_release=${SOAK_RUNS:-20}
runs_san=${SOAK_SAN_RUNS:-5}
builds=${SOAK_BUILDS:-release tsan asan}
root=$(pwd)
logdir=build/soak

if [ ! -d test ] || [ ! -f Makefile ]; then
	echo "soak.sh: run from the project's root" >&2
	exit 2
fi
mkdir -p "$logdir"
for b in $builds; do
	rm -f "$logdir/$b"-*.log # a previous soak's
done

# run_copy BUILD LOG: one copy of BUILD's suite, with the environment the
# Makefile's check, tsan and asan targets give it; its exit status.
run_copy() {
	case $1 in
	release)
		build/release/test/check_drpc >"$2" 2>&1
		;;
	tsan)
		TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/test/tsan.supp" \
		CK_TIMEOUT_MULTIPLIER=8 \
		    build/tsan/test/check_drpc >"$2" 2>&1
		;;
	asan)
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		CK_TIMEOUT_MULTIPLIER=4 \
		    build/asan/test/check_drpc >"$2" 2>&1
		;;
	esac
}

# failures_in LOG: the failed checks Check listed and the sanitizers'
# summaries, one per line (the first few).
failures_in() {
	grep -E '^[^ ]+:[0-9]+:[FE]:|^SUMMARY: [A-Za-z]+Sanitizer' "$1" \
	    2>/dev/null | head -n 5
}

status=0
summary=""
for b in $builds; do
	case $b in
	release) n=$runs_release ;;
	tsan | asan) n=$runs_san ;;
	*)
		echo "soak.sh: unknown build '$b'" >&2
		exit 2
		;;
	esac
	if [ ! -x "build/$b/test/check_drpc" ]; then
		echo "soak.sh: build/$b/test/check_drpc is missing" \
		    "(make VARIANT=$b build/$b/test/check_drpc)" >&2
		exit 2
	fi
	failed=0
	copies=0
	i=1
	while [ "$i" -le "$n" ]; do
		a="$logdir/$b-$i-a.log"
		c="$logdir/$b-$i-b.log"
		start=$(date +%s)
		run_copy "$b" "$a" &
		pa=$!
		run_copy "$b" "$c" &
		pc=$!
		wait "$pa"
		ra=$?
		wait "$pc"
		rc=$?
		copies=$((copies + 2))
		line="soak: $b run $i/$n: $(($(date +%s) - start)) s"
		bad=0
		for pair in "$ra:$a" "$rc:$c"; do
			r=${pair%%:*}
			log=${pair#*:}
			if [ "$r" -ne 0 ]; then
				bad=1
				line="$line; FAILED (exit $r), log kept: $log"
				failures_in "$log" | sed 's/^/    /' >"$log.why"
			else
				rm -f "$log"
			fi
		done
		echo "$line"
		for log in "$a" "$c"; do
			if [ -s "$log.why" ]; then
				cat "$log.why"
			fi
			rm -f "$log.why"
		done
		if [ "$bad" -ne 0 ]; then
			failed=$((failed + 1))
			status=1
		fi
		i=$((i + 1))
	done
	summary="$summary
soak: $b: $n runs ($copies suite copies, two at a time), $failed failures"
done
echo "$summary" | sed '/^$/d'
exit $status
