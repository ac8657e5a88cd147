# libdrpc build. `make help` lists the targets.
#
# Every variant builds into build/<variant>/ (release, debug, asan, tsan).
# The first build runs scripts/install-deps.sh, which installs the Debian
# packages the project needs when any is missing.

VARIANT ?= release
BUILD   := build/$(VARIANT)
PREFIX  ?= /usr/local
SHARED  ?= $(abspath ../shared)

VERSION       := 0.1.0
SOVERSION     := 0
LIBNAME       := libdrpc.so
SONAME        := $(LIBNAME).$(SOVERSION)

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif

WARN := -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wold-style-definition -Wwrite-strings \
	-Wformat=2 -Wundef -Wvla -Wconversion -Wsign-conversion
BASE_CFLAGS := -std=c11 -g -fPIC -fvisibility=hidden -pthread $(WARN)
CPPFLAGS := -D_POSIX_C_SOURCE=200809L -Iinclude -Ilib -MMD -MP

ifeq ($(VARIANT),release)
OPT := -O2
else ifeq ($(VARIANT),debug)
OPT := -O0 -DDRPC_DEBUG
else ifeq ($(VARIANT),asan)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
else ifeq ($(VARIANT),tsan)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=thread
else
$(error unknown VARIANT '$(VARIANT)': use release, debug, asan or tsan)
endif

CFLAGS  ?=
CFLAGS  := $(BASE_CFLAGS) $(OPT) $(CFLAGS)
LDFLAGS := -pthread $(filter -fsanitize=%,$(OPT))

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)
PB_LIBS      = $(shell pkg-config --libs libprotobuf-c 2>/dev/null || echo -lprotobuf-c)

LIB_SRC  := $(sort $(wildcard lib/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(filter-out test/stress.c,$(wildcard test/*.c)) \
	$(wildcard test/fuzz/*_harness.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
CMDS     := drpc-dump example-server example-client drpc-bench
CMD_BINS := $(CMDS:%=$(BUILD)/bin/%)

STATIC := $(BUILD)/libdrpc.a
SHLIB  := $(BUILD)/$(LIBNAME).$(VERSION)
TESTS  := $(BUILD)/test/check_drpc

DEPS_STAMP := build/.deps-ok

.PHONY: all lib check test asan tsan valgrind fuzz run install uninstall \
	clean deps help headers format format-check bench
.DEFAULT_GOAL := all
# Keep object files make would otherwise treat as intermediate.
.SECONDARY:

all: lib $(CMD_BINS) $(TESTS)

lib: $(STATIC) $(SHLIB)

help:
	@echo "make              build libdrpc.a, libdrpc.so, the tools and tests"
	@echo "make run          the main job: decode a recorded DRPC transcript"
	@echo "make check        run every Check suite"
	@echo "make asan / tsan  the suites under ASan+UBSan / ThreadSanitizer"
	@echo "make valgrind     the suites under valgrind memcheck"
	@echo "make fuzz         libFuzzer: wire, server conn, client conn (FUZZ_SECONDS=60 each)"
	@echo "make install      PREFIX=/usr/local: headers, libraries, drpc.pc"
	@echo "make clean"

deps: $(DEPS_STAMP)

$(DEPS_STAMP): scripts/install-deps.sh
	@sh scripts/install-deps.sh
	@mkdir -p build && touch $@

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Only the thread wrapper needs GNU extensions (pthread_setname_np).
$(BUILD)/lib/platform/thread.o: CPPFLAGS += -D_GNU_SOURCE

$(BUILD)/test/%.o: test/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DDRPC_SHARED_DIR='"$(SHARED)"' \
		-DDRPC_SOURCE_DIR='"$(CURDIR)"' $(CFLAGS) \
		$(CHECK_CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHLIB): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) -o $@ $^ $(PB_LIBS)
	ln -sf $(LIBNAME).$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/$(LIBNAME)

$(BUILD)/bin/%: $(BUILD)/cmd/%/main.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PB_LIBS)

$(TESTS): $(TEST_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PB_LIBS)

# The suites run from the project's root, so tests find ../shared.
check test: $(TESTS)
	$(TESTS)

asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	CK_TIMEOUT_MULTIPLIER=4 $(MAKE) VARIANT=asan check

tsan:
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/test/tsan.supp" \
	CK_TIMEOUT_MULTIPLIER=8 $(MAKE) VARIANT=tsan check

valgrind: $(TESTS)
	DRPC_TEST_NO_TIMING=1 CK_FORK=no CK_TIMEOUT_MULTIPLIER=20 valgrind --quiet \
		--leak-check=full --show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=1 $(TESTS)

# The main job (until the client/server demo exists): decode a recorded
# Go DRPC conversation, both directions.
run: $(BUILD)/bin/drpc-dump
	$(BUILD)/bin/drpc-dump $(SHARED)/interop/transcripts/metadata.client.bin
	$(BUILD)/bin/drpc-dump $(SHARED)/interop/transcripts/metadata.server.bin

# libFuzzer: the wire layer, and whole server- and client-side connections,
# seeded with the recorded transcripts. Each target runs FUZZ_SECONDS; the
# corpora grow under build/fuzz/. Inputs worth keeping go in
# test/fuzz/regressions/, which the Check suite replays on every run.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_wire fuzz_conn_server fuzz_conn_client
FUZZ_FLAGS   := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -D_POSIX_C_SOURCE=200809L -D_GNU_SOURCE \
	-Iinclude -Ilib -Itest/fuzz -pthread
FUZZ_HARNESS := $(wildcard test/fuzz/*_harness.c)

build/fuzz/%: test/fuzz/%.c $(FUZZ_HARNESS) $(LIB_SRC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $^ $(PB_LIBS)

fuzz: $(FUZZ_TARGETS:%=build/fuzz/%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t && \
		cp $(SHARED)/interop/transcripts/*.bin build/fuzz/corpus-$$t/ && \
		echo "== $$t, $(FUZZ_SECONDS) s" && \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=70000 \
			-timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=build/fuzz/$$t- \
			build/fuzz/corpus-$$t test/fuzz/regressions || exit 1; \
	done

install: lib $(CMD_BINS)
	install -d $(DESTDIR)$(PREFIX)/include/drpc $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/drpc/*.h $(DESTDIR)$(PREFIX)/include/drpc/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHLIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(LIBNAME).$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/$(LIBNAME)
	install -m 755 $(CMD_BINS) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		drpc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/drpc.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/drpc
	rm -f $(DESTDIR)$(PREFIX)/lib/libdrpc.* \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/drpc.pc \
		$(CMDS:%=$(DESTDIR)$(PREFIX)/bin/%)

# Every public header compiles on its own.
headers: | $(DEPS_STAMP)
	@for h in include/drpc/*.h; do \
		echo "#include <drpc/$$(basename $$h)>" | \
		$(CC) $(filter-out -MMD -MP,$(CPPFLAGS)) $(BASE_CFLAGS) \
			-x c -fsyntax-only - || exit 1; \
	done; echo "headers: ok"

format:
	clang-format -i $(LIB_SRC) $(wildcard lib/*/*.h include/drpc/*.h \
		cmd/*/*.c test/*.c test/*.h test/fuzz/*.c)

clean:
	rm -rf build/release build/debug build/asan build/tsan build/fuzz

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CMDS:%=$(BUILD)/cmd/%/main.d)
