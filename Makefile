# libdrpc build. `make help` lists the targets.
#
# Every variant builds into build/<variant>/ (release, debug, asan, tsan).
# The first build runs scripts/install-deps.sh, which installs the Debian
# packages the project needs when any is missing: what builds the library
# and its tools first, the test tools (Check, valgrind, clang) only when a
# target needs them.

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
# OpenSSL (libssl-dev), for the TLS transport (lib/tls/).
SSL_CFLAGS   = $(shell pkg-config --cflags openssl 2>/dev/null)
SSL_LIBS     = $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

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
STRESS := $(BUILD)/test/drpc-stress

DEPS_STAMP      := build/.deps-ok
TEST_DEPS_STAMP := build/.deps-test-ok

# Code generation (docs/codegen.md). protoc-gen-drpc-c is built from
# cmd/protoc-gen-drpc-c/ and descriptor.proto + plugin.proto, which
# protoc-c compiles into $(GEN) at build time. Generated code never goes
# into the tree: test protos land in $(GEN)/test, interop.proto in
# $(GEN)/interop.
PROTOC        ?= protoc
PROTOC_C      ?= protoc-c
PROTO_INCLUDE ?= /usr/include
GEN           := $(BUILD)/gen
PLUGIN        := $(BUILD)/bin/protoc-gen-drpc-c
PLUGIN_OBJ    := $(patsubst %.c,$(BUILD)/%.o, \
	$(sort $(wildcard cmd/protoc-gen-drpc-c/*.c)))
PLUGIN_PB     := $(GEN)/google/protobuf/descriptor.pb-c \
	$(GEN)/google/protobuf/compiler/plugin.pb-c
# The plugin minus its main(): the codegen suite links it to call cg_run.
PLUGIN_CORE   := $(filter-out %/main.o,$(PLUGIN_OBJ)) $(PLUGIN_PB:%=%.o)

# The health service's messages (lib/health/health.proto): protoc-c
# output, compiled into the library.
HEALTH_PB := $(GEN)/health/health.pb-c
LIB_OBJ   += $(HEALTH_PB).o

# Test protos (test/proto/): every file is generated; these have .pb-c
# files (edge_names asks protoc-c for none) and these have services.
TEST_PROTOS    := $(sort $(wildcard test/proto/*.proto))
TEST_PB_NAMES  := echo echo_types edge_bytes edge_cpkg edge_long \
	edge_multi edge_names_types edge_nested edge_nopkg edge_stream
TEST_SVC_NAMES := echo edge_bytes edge_cpkg edge_long edge_multi \
	edge_names edge_nested edge_nopkg edge_stream
TEST_GEN_SRC   := $(TEST_PB_NAMES:%=$(GEN)/test/%.pb-c.c) \
	$(TEST_SVC_NAMES:%=$(GEN)/test/%.drpc.c)
TEST_GEN_OBJ   := $(TEST_GEN_SRC:.c=.o)
TEST_GEN_HDR   := $(TEST_GEN_SRC:.c=.h)

# interop.proto's code, for the interop tool, when ../shared has it.
INTEROP_PROTO   := $(SHARED)/interop/interop.proto
ifneq ($(wildcard $(INTEROP_PROTO)),)
INTEROP_GEN_SRC := $(GEN)/interop/interop.pb-c.c $(GEN)/interop/interop.drpc.c
INTEROP_GEN_OBJ := $(INTEROP_GEN_SRC:.c=.o)
INTEROP_GEN_HDR := $(INTEROP_GEN_SRC:.c=.h)
endif

.PHONY: all lib check test asan tsan valgrind fuzz run install uninstall \
	clean deps deps-test help check-examples headers format format-check bench \
	bench-grpc bench-two-process \
	stress stress-run stress-tsan stress-asan soak proto codegen-golden \
	codegen-format-check fuzz-codegen interop-check
.DEFAULT_GOAL := all
# Keep object files make would otherwise treat as intermediate.
.SECONDARY:

# all is defined below the tools' variables ($(DEMO), $(INTEROP_BIN)):
# make expands a rule's prerequisites when it reads the rule.

lib: $(STATIC) $(SHLIB)

help:
	@echo "make              build libdrpc.a, libdrpc.so, the tools and tests"
	@echo "make run          the main job: the client/server demo (drpc-demo)"
	@echo "make interop-check  drpc-interop check against drpc-interop serve"
	@echo "make check        run every Check suite"
	@echo "make check-examples  build and run README's and docs' examples"
	@echo "make asan / tsan  the suites under ASan+UBSan / ThreadSanitizer"
	@echo "make valgrind     the suites under valgrind memcheck"
	@echo "make soak         the suites 20 times (SOAK_RUNS), TSan and ASan 5 times"
	@echo "                  (SOAK_SAN_RUNS), each beside a second copy of itself"
	@echo "make stress       drpc-stress, release, 20 s (stress-tsan, stress-asan: 60 s)"
	@echo "make fuzz         libFuzzer: wire, server conn, client conn, TLS server conn"
	@echo "                  (FUZZ_SECONDS=60 each)"
	@echo "make bench        drpc-bench: libdrpc against raw TCP (docs/benchmarks.md)"
	@echo "make bench-grpc   drpc-bench-grpc, the gRPC C++ peer (needs libgrpc++-dev)"
	@echo "make bench-two-process  raw, libdrpc and gRPC C++, two processes each"
	@echo "make install      PREFIX=/usr/local: headers, libraries, drpc.pc, protoc-gen-drpc-c"
	@echo "make proto PROTO=x.proto [PROTO_PATH=dir] [PROTO_OUT=dir]"
	@echo "                  protoc-c and protoc-gen-drpc-c code for x.proto"
	@echo "make codegen-golden  rewrite test/codegen/ from test/proto/echo.proto"
	@echo "make clean"

deps: $(DEPS_STAMP)
deps-test: $(TEST_DEPS_STAMP)

$(DEPS_STAMP): scripts/install-deps.sh
	@sh scripts/install-deps.sh
	@mkdir -p build && touch $@

# After the build packages, never beside them: apt-get runs one at a time.
$(TEST_DEPS_STAMP): scripts/install-deps.sh $(DEPS_STAMP)
	@sh scripts/install-deps.sh --test
	@mkdir -p build && touch $@

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SSL_CFLAGS) $(CFLAGS) -c -o $@ $<

# Only the thread wrapper needs GNU extensions (pthread_setname_np).
$(BUILD)/lib/platform/thread.o: CPPFLAGS += -D_GNU_SOURCE

$(BUILD)/test/%.o: test/%.c | $(TEST_DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SSL_CFLAGS) -DDRPC_SHARED_DIR='"$(SHARED)"' \
		-DDRPC_SOURCE_DIR='"$(CURDIR)"' $(CFLAGS) \
		$(CHECK_CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHLIB): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)
	ln -sf $(LIBNAME).$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/$(LIBNAME)

$(BUILD)/bin/%: $(BUILD)/cmd/%/main.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

# What several programs share (cmd/common/serve.h), linked into each.
CMD_COMMON_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard cmd/common/*.c)))

# drpc-bench is several files (cmd/drpc-bench/bench.h lists them).
BENCH_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard cmd/drpc-bench/*.c))) \
	$(CMD_COMMON_OBJ)

$(BUILD)/bin/drpc-bench: $(BENCH_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

# drpc-dump's decoder (dump.c) is linked into drpc too (`drpc dump`).
DUMP_OBJ := $(BUILD)/cmd/drpc-dump/dump.o

$(BUILD)/bin/drpc-dump: $(BUILD)/cmd/drpc-dump/main.o $(DUMP_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

$(TESTS): $(TEST_OBJ) $(TEST_GEN_OBJ) $(INTEROP_GEN_OBJ) $(PLUGIN_CORE) \
	$(STATIC)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(PB_LIBS) $(SSL_LIBS)

# The generator. Its own protos come from protoc-c at build time.
$(GEN)/google/protobuf/%.pb-c.c $(GEN)/google/protobuf/%.pb-c.h: $(DEPS_STAMP)
	@mkdir -p $(GEN)
	$(PROTOC_C) --proto_path=$(PROTO_INCLUDE) --c_out=$(GEN) \
		google/protobuf/$*.proto

$(GEN)/health/%.pb-c.c $(GEN)/health/%.pb-c.h: lib/health/%.proto | $(DEPS_STAMP)
	@mkdir -p $(GEN)/health
	$(PROTOC_C) --proto_path=lib/health --c_out=$(GEN)/health $*.proto

$(BUILD)/lib/health/health.o: CPPFLAGS += -I$(GEN)/health
$(BUILD)/lib/health/health.o: $(HEALTH_PB).h

$(PLUGIN_OBJ): CPPFLAGS += -I$(GEN)
$(PLUGIN_OBJ): $(PLUGIN_PB:%=%.h)

$(PLUGIN): $(PLUGIN_OBJ) $(PLUGIN_PB:%=%.o)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

# Generated C builds with the project's flags, protoc-c's output included.
$(GEN)/%.o: $(GEN)/%.c
	$(CC) $(CPPFLAGS) -I$(GEN) $(CFLAGS) -c -o $@ $<

$(GEN)/test/%.o: CPPFLAGS += -I$(GEN)/test
$(GEN)/interop/%.o: CPPFLAGS += -I$(GEN)/interop

# protoc-drpc runs protoc with both generators: $(1) is the proto path
# (imports resolve there, and output names are relative to it), $(2) the
# output folder, $(3) the .proto files (inside $(1)). PROTO_INCLUDE comes
# second, for protobuf-c/protobuf-c.proto and google/protobuf/*.proto.
protoc-drpc = $(PROTOC) --proto_path=$(1) --proto_path=$(PROTO_INCLUDE) \
	--c_out=$(2) --drpc-c_out=$(2) \
	--plugin=protoc-gen-drpc-c=$(PLUGIN) $(3)

# The test protos, in one run; echo.desc (the descriptors protoc gives the
# plugin) lets the codegen suite run the generator in process too.
$(GEN)/test/.stamp: $(TEST_PROTOS) $(PLUGIN)
	@mkdir -p $(dir $@)
	$(call protoc-drpc,test/proto,$(GEN)/test,$(TEST_PROTOS))
	$(PROTOC) --proto_path=test/proto --include_imports \
		--include_source_info --descriptor_set_out=$(GEN)/test/echo.desc \
		test/proto/echo.proto
	@touch $@

$(TEST_GEN_SRC) $(TEST_GEN_HDR) $(GEN)/test/echo.desc: $(GEN)/test/.stamp ;

ifneq ($(INTEROP_GEN_SRC),)
$(GEN)/interop/.stamp: $(INTEROP_PROTO) $(PLUGIN)
	@mkdir -p $(dir $@)
	$(call protoc-drpc,$(SHARED)/interop,$(GEN)/interop,$(INTEROP_PROTO))
	@touch $@

$(INTEROP_GEN_SRC) $(INTEROP_GEN_HDR): $(GEN)/interop/.stamp ;
endif

# The demo (README's main job): demo.proto's code, then drpc-demo.
DEMO_GEN_SRC := $(GEN)/demo/demo.pb-c.c $(GEN)/demo/demo.drpc.c
DEMO_GEN_OBJ := $(DEMO_GEN_SRC:.c=.o)
DEMO         := $(BUILD)/bin/drpc-demo

$(GEN)/demo/.stamp: cmd/drpc-demo/demo.proto $(PLUGIN)
	@mkdir -p $(dir $@)
	$(call protoc-drpc,cmd/drpc-demo,$(GEN)/demo,cmd/drpc-demo/demo.proto)
	@touch $@

$(DEMO_GEN_SRC) $(DEMO_GEN_SRC:.c=.h): $(GEN)/demo/.stamp ;
$(GEN)/demo/%.o: CPPFLAGS += -I$(GEN)/demo
$(BUILD)/cmd/drpc-demo/main.o: $(GEN)/demo/.stamp
$(BUILD)/cmd/drpc-demo/main.o: CPPFLAGS += -I$(GEN)/demo

$(DEMO): $(BUILD)/cmd/drpc-demo/main.o $(DEMO_GEN_OBJ) $(CMD_COMMON_OBJ) \
	$(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

# example-observe: interceptors, stats, hooks and health around the demo's
# generated Greeter (cmd/example-observe/); check_observe.c runs it.
OBSERVE     := $(BUILD)/bin/example-observe
OBSERVE_OBJ := $(patsubst %.c,$(BUILD)/%.o, \
	$(sort $(wildcard cmd/example-observe/*.c)))

$(OBSERVE_OBJ): $(GEN)/demo/.stamp
$(OBSERVE_OBJ): CPPFLAGS += -I$(GEN)/demo
$(OBSERVE): $(OBSERVE_OBJ) $(DEMO_GEN_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

# drpc-interop, on interop.proto's generated stubs (needs ../shared).
INTEROP_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cmd/drpc-interop/*.c))
INTEROP_BIN := $(if $(INTEROP_GEN_OBJ),$(BUILD)/bin/drpc-interop)

$(INTEROP_OBJ): $(INTEROP_GEN_HDR)
$(INTEROP_OBJ): CPPFLAGS += -I$(GEN)/interop

$(BUILD)/bin/drpc-interop: $(INTEROP_OBJ) $(INTEROP_GEN_OBJ) $(CMD_COMMON_OBJ) \
	$(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

# drpc, the command-line client (cmd/drpc/, docs/cli.md): C++ for
# libprotobuf's descriptor pool, dynamic messages and JSON mapping
# (libprotobuf-dev), over libdrpc's C API.
CLI          := $(BUILD)/bin/drpc
CLI_SRC      := $(sort $(wildcard cmd/drpc/*.cc))
CLI_OBJ      := $(CLI_SRC:%.cc=$(BUILD)/%.o)
CLI_CXXFLAGS  = -std=c++17 -g $(OPT) -pthread -Wall -Wextra -Werror \
	-Iinclude $(shell pkg-config --cflags protobuf 2>/dev/null)
CLI_LIBS      = $(shell pkg-config --libs protobuf 2>/dev/null || echo -lprotobuf)

$(BUILD)/cmd/drpc/%.o: cmd/drpc/%.cc | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CLI_CXXFLAGS) -MMD -MP -c -o $@ $<

$(CLI): $(CLI_OBJ) $(DUMP_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CLI_LIBS) $(PB_LIBS) $(SSL_LIBS)

# The hostile suite (test/check_hostile*.c) attacks drpc-interop serve,
# built in the same variant, in a child process.
$(TESTS): | $(INTEROP_BIN)
# The cli suite (test/check_cli.c) runs the drpc tool.
$(TESTS): | $(CLI)
# The observe suite (test/check_observe.c) runs example-observe.
$(TESTS): | $(OBSERVE)

# Everything: the libraries, every tool the README names, the tests.
all: lib $(CMD_BINS) $(TESTS) $(STRESS) $(PLUGIN) $(DEMO) $(INTEROP_BIN) $(CLI) \
	$(OBSERVE)

# Check drpc-interop against itself in every mode pair (scripts/
# interop-check.sh): automatic, flow-controlled and hello-less servers,
# clients multiplexing, one stream at a time, or waiting to be told.
interop-check: $(INTEROP_BIN)
	@test -n "$(INTEROP_BIN)" || { echo "needs $(INTEROP_PROTO)"; exit 2; }
	sh scripts/interop-check.sh $(INTEROP_BIN) $(CURDIR)/build

# The multiplexing suite calls a generated stub.
$(BUILD)/test/check_mux.o: $(TEST_GEN_HDR)
$(BUILD)/test/check_mux.o: CPPFLAGS += -I$(GEN)/test
$(BUILD)/test/check_intercept.o: $(TEST_GEN_HDR)
$(BUILD)/test/check_intercept.o: CPPFLAGS += -I$(GEN)/test

# The codegen suite includes generated headers and reads echo.desc.
CODEGEN_TEST_OBJ := $(BUILD)/test/check_codegen.o \
	$(BUILD)/test/check_codegen_bytes.o
$(CODEGEN_TEST_OBJ): $(TEST_GEN_HDR) $(INTEROP_GEN_HDR) \
	$(PLUGIN_PB:%=%.h) $(GEN)/test/echo.desc
$(CODEGEN_TEST_OBJ): CPPFLAGS += -I$(GEN) -I$(GEN)/test \
	-Icmd/protoc-gen-drpc-c -DDRPC_GEN_DIR='"$(CURDIR)/$(GEN)"' \
	-DDRPC_GOLDEN_DIR='"$(CURDIR)/test/codegen"' \
	$(if $(INTEROP_GEN_OBJ),-I$(GEN)/interop -DDRPC_HAVE_INTEROP_GEN)

# The cli suite runs the drpc tool against generated reflection data.
CLI_TEST_OBJ := $(BUILD)/test/check_cli.o $(BUILD)/test/check_cli_more.o \
	$(BUILD)/test/check_cli_demo.o $(BUILD)/test/check_cli_tls.o \
	$(BUILD)/test/cli_fixture.o
$(CLI_TEST_OBJ): $(TEST_GEN_HDR) $(INTEROP_GEN_HDR)
$(CLI_TEST_OBJ): CPPFLAGS += -I$(GEN)/test \
	-DDRPC_CLI_BIN='"$(CURDIR)/$(CLI)"' \
	$(if $(INTEROP_GEN_OBJ),-I$(GEN)/interop -DDRPC_HAVE_INTEROP_GEN)
# ... and runs drpc-demo serve (check_cli_demo.c).
$(BUILD)/test/check_cli_demo.o: CPPFLAGS += \
	-DDRPC_DEMO_BIN='"$(CURDIR)/$(DEMO)"'
$(TESTS): | $(DEMO)
# ... and unit-tests the plugin's escaping of file names.
$(BUILD)/test/check_cli_more.o: $(PLUGIN_PB:%=%.h)
$(BUILD)/test/check_cli_more.o: CPPFLAGS += -I$(GEN) -Icmd/protoc-gen-drpc-c

# make proto PROTO=dir/x.proto: x's protoc-c and DRPC code, in PROTO_OUT.
PROTO      ?=
PROTO_PATH ?= $(if $(PROTO),$(patsubst %/,%,$(dir $(PROTO))))
PROTO_OUT  ?= $(GEN)/proto
proto: $(PLUGIN)
	@test -n "$(PROTO)" || { echo "usage: make proto PROTO=x.proto" \
		"[PROTO_PATH=dir] [PROTO_OUT=dir]" >&2; exit 2; }
	@mkdir -p $(PROTO_OUT)
	$(call protoc-drpc,$(PROTO_PATH),$(PROTO_OUT),$(PROTO))

# The golden files of the codegen suite, from test/proto/echo.proto.
codegen-golden: $(GEN)/test/.stamp
	cp $(GEN)/test/echo.drpc.h $(GEN)/test/echo.drpc.c test/codegen/

# protoc-gen-drpc-c's output is laid out as clang-format lays it out
# (protoc-c's is not).
codegen-format-check: $(GEN)/test/.stamp $(INTEROP_GEN_SRC)
	@for f in test/codegen/*.drpc.[ch] $(GEN)/test/*.drpc.[ch] \
		$(filter %.drpc.c %.drpc.h,$(INTEROP_GEN_SRC) $(INTEROP_GEN_HDR)); do \
		clang-format --dry-run -Werror $$f || exit 1; \
	done; echo "codegen-format-check: ok"

# The stress program is not a Check suite: test/stress.c has its own main.
$(STRESS): $(BUILD)/test/stress.o $(BUILD)/test/procfs.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

# The suites run from the project's root, so tests find ../shared.
check test: $(TESTS)
	$(TESTS)

# The examples of README.md, docs/api.md and docs/codegen.md, built against
# an installed copy (build/examples/inst) as a user builds them, and run.
check-examples: lib $(PLUGIN)
	MAKE="$(MAKE)" bash scripts/check-examples.sh

asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	CK_TIMEOUT_MULTIPLIER=4 $(MAKE) VARIANT=asan check

tsan:
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/test/tsan.supp" \
	CK_TIMEOUT_MULTIPLIER=8 $(MAKE) VARIANT=tsan check

# The soak (scripts/soak.sh, test/README.md): every suite again and again
# on a fully loaded machine, each run beside a second copy of itself, to
# show that no test depends on timing. SOAK_RUNS release runs, then
# SOAK_SAN_RUNS under TSan and under ASan (SOAK_BUILDS picks the builds);
# one summary line per build; the logs of failed runs stay in build/soak/.
SOAK_RUNS     ?= 20
SOAK_SAN_RUNS ?= 5
SOAK_BUILDS   ?= release tsan asan
soak:
	@for v in $(SOAK_BUILDS); do \
		$(MAKE) VARIANT=$$v build/$$v/test/check_drpc || exit 1; \
	done
	SOAK_RUNS=$(SOAK_RUNS) SOAK_SAN_RUNS=$(SOAK_SAN_RUNS) \
		SOAK_BUILDS="$(SOAK_BUILDS)" sh scripts/soak.sh

# drpc-stress (test/stress.c): 64 threads, every kind of call, random
# sizes, deadlines and cancels, every byte checked; bounded by its watchdog.
STRESS_SECONDS ?= 20
STRESS_ARGS    ?=
stress-run: $(STRESS)
	$(STRESS) --seconds $(STRESS_SECONDS) $(STRESS_ARGS)

stress:
	$(MAKE) VARIANT=release BUILD=build/release STRESS_SECONDS=20 stress-run

stress-tsan:
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/test/tsan.supp" \
	$(MAKE) VARIANT=tsan BUILD=build/tsan STRESS_SECONDS=60 stress-run

stress-asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MAKE) VARIANT=asan BUILD=build/asan STRESS_SECONDS=60 stress-run

valgrind: $(TESTS)
	DRPC_CLI_VALGRIND=1 CK_FORK=no CK_TIMEOUT_MULTIPLIER=20 valgrind --quiet \
		--max-threads=2000 \
		--leak-check=full --show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=1 $(TESTS)

# The main job: the demo, a server and a client on generated stubs.
run: $(DEMO)
	$(DEMO)

# libFuzzer: the wire layer, and whole server- and client-side connections
# (a TLS server's too, behind a completed handshake), seeded with the
# recorded transcripts. Each target runs FUZZ_SECONDS; the
# corpora grow under build/fuzz/. Inputs worth keeping go in
# test/fuzz/regressions/, which the Check suite replays on every run.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_wire fuzz_conn_server fuzz_conn_client fuzz_tls_server
FUZZ_FLAGS   := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -D_POSIX_C_SOURCE=200809L -D_GNU_SOURCE \
	-Iinclude -Ilib -Itest/fuzz -I$(GEN)/health -pthread
FUZZ_HARNESS := $(wildcard test/fuzz/*_harness.c)

# The library's sources, and its generated health messages (protoc-c's).
build/fuzz/%: test/fuzz/%.c $(FUZZ_HARNESS) $(LIB_SRC) $(HEALTH_PB).c \
	| $(TEST_DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

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

# libFuzzer on protoc-gen-drpc-c's request handling, seeded with the
# requests protoc makes for test/proto/ (captured by a stand-in plugin).
FUZZ_CODEGEN_SRC := test/fuzz/fuzz_codegen.c \
	$(filter-out %/main.c,$(wildcard cmd/protoc-gen-drpc-c/*.c))

build/fuzz/fuzz_codegen: $(FUZZ_CODEGEN_SRC) $(PLUGIN_PB:%=%.c) \
	| $(TEST_DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -I$(GEN) -Icmd/protoc-gen-drpc-c -o $@ $^ $(PB_LIBS) $(SSL_LIBS)

fuzz-codegen: build/fuzz/fuzz_codegen
	@mkdir -p build/fuzz/corpus-codegen
	printf '#!/bin/sh\ncat > "$$CAPTURE"\n' > build/fuzz/capture.sh
	chmod +x build/fuzz/capture.sh
	for p in $(TEST_PROTOS); do \
		CAPTURE=build/fuzz/corpus-codegen/$$(basename $$p).req \
		$(PROTOC) --proto_path=test/proto --proto_path=$(PROTO_INCLUDE) \
			--plugin=protoc-gen-cap=build/fuzz/capture.sh \
			--cap_out=build/fuzz $$p || exit 1; \
	done
	build/fuzz/fuzz_codegen -max_total_time=$(FUZZ_SECONDS) \
		-max_len=65536 -timeout=20 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix=build/fuzz/fuzz_codegen- \
		build/fuzz/corpus-codegen

# Benchmarks against plain TCP (docs/benchmarks.md); under 3 minutes.
# Pinned figures: taskset -c 0 $(BUILD)/bin/drpc-bench
bench: $(BUILD)/bin/drpc-bench
	$(BUILD)/bin/drpc-bench

# drpc-bench-grpc, the gRPC C++ peer of drpc-bench --two-process
# (cmd/drpc-bench/grpc/, docs/benchmarks.md). Built only by make
# bench-grpc, never by all or check: it needs Debian's libgrpc++-dev,
# libprotobuf-dev, protobuf-compiler and protobuf-compiler-grpc. Its
# protobuf and gRPC code is generated into $(GEN)/bench-grpc.
GRPC_PEER_DIR := cmd/drpc-bench/grpc
GRPC_PEER_GEN := $(GEN)/bench-grpc
GRPC_PEER     := $(BUILD)/bin/drpc-bench-grpc
GRPC_PEER_SRC := $(sort $(wildcard $(GRPC_PEER_DIR)/*.cc))
GRPC_PEER_OBJ := $(GRPC_PEER_SRC:%.cc=$(BUILD)/%.o) \
	$(GRPC_PEER_GEN)/bench.pb.o $(GRPC_PEER_GEN)/bench.grpc.pb.o
GRPC_CPP_PLUGIN ?= grpc_cpp_plugin
GRPC_CXXFLAGS = -std=c++17 -g $(OPT) -pthread -Wall -Wextra -Werror \
	-I$(GRPC_PEER_GEN) $(shell pkg-config --cflags grpc++ protobuf)
GRPC_LIBS     = $(shell pkg-config --libs grpc++ protobuf)

bench-grpc:
	@pkg-config --exists grpc++ protobuf 2>/dev/null || { \
		echo "make bench-grpc: pkg-config finds no grpc++ or protobuf;" \
			"install libgrpc++-dev, libprotobuf-dev, protobuf-compiler" \
			"and protobuf-compiler-grpc" >&2; exit 2; }
	@command -v $(GRPC_CPP_PLUGIN) >/dev/null || { \
		echo "make bench-grpc: no $(GRPC_CPP_PLUGIN);" \
			"install protobuf-compiler-grpc" >&2; exit 2; }
	@$(MAKE) --no-print-directory $(GRPC_PEER) $(BUILD)/bin/drpc-bench

$(GRPC_PEER_GEN)/.stamp: $(GRPC_PEER_DIR)/bench.proto
	@mkdir -p $(dir $@)
	$(PROTOC) --proto_path=$(GRPC_PEER_DIR) --cpp_out=$(GRPC_PEER_GEN) \
		--grpc_out=$(GRPC_PEER_GEN) \
		--plugin=protoc-gen-grpc=$$(command -v $(GRPC_CPP_PLUGIN)) \
		$(GRPC_PEER_DIR)/bench.proto
	@touch $@

$(GRPC_PEER_GEN)/bench.pb.cc $(GRPC_PEER_GEN)/bench.grpc.pb.cc: \
	$(GRPC_PEER_GEN)/.stamp ;

$(GRPC_PEER_GEN)/%.o: $(GRPC_PEER_GEN)/%.cc
	$(CXX) $(GRPC_CXXFLAGS) -c -o $@ $<

$(BUILD)/$(GRPC_PEER_DIR)/%.o: $(GRPC_PEER_DIR)/%.cc $(GRPC_PEER_GEN)/.stamp
	@mkdir -p $(dir $@)
	$(CXX) $(GRPC_CXXFLAGS) -MMD -MP -c -o $@ $<

$(GRPC_PEER): $(GRPC_PEER_OBJ)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(GRPC_LIBS)

# Raw TCP, libdrpc and gRPC C++ side by side, each client and server in
# two processes (the gRPC column needs make bench-grpc first).
bench-two-process: $(BUILD)/bin/drpc-bench
	$(BUILD)/bin/drpc-bench --two-process

# install: what a program using libdrpc needs, and nothing else: the
# headers, both libraries, drpc.pc and the protoc plugin. The tools
# (drpc-dump, drpc-interop, drpc-bench, drpc-demo) and the examples run
# from $(BUILD)/bin. As root into /usr or /usr/local (no DESTDIR), it
# runs ldconfig so the dynamic linker finds the new library; for any
# other prefix see README.md, "Using an installed libdrpc".
install: lib $(PLUGIN) $(CLI)
	install -d $(DESTDIR)$(PREFIX)/include/drpc $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/drpc/*.h $(DESTDIR)$(PREFIX)/include/drpc/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHLIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(LIBNAME).$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/$(LIBNAME)
	install -m 755 $(PLUGIN) $(CLI) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		drpc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/drpc.pc
	@case "$(DESTDIR)$(PREFIX)" in /usr|/usr/local) \
		if [ "$$(id -u)" -eq 0 ]; then ldconfig; fi;; esac

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/drpc
	rm -f $(DESTDIR)$(PREFIX)/lib/libdrpc.* \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/drpc.pc \
		$(DESTDIR)$(PREFIX)/bin/protoc-gen-drpc-c $(DESTDIR)$(PREFIX)/bin/drpc

# Every public header compiles on its own.
headers: | $(DEPS_STAMP)
	@for h in include/drpc/*.h; do \
		echo "#include <drpc/$$(basename $$h)>" | \
		$(CC) $(filter-out -MMD -MP,$(CPPFLAGS)) $(BASE_CFLAGS) \
			-x c -fsyntax-only - || exit 1; \
	done; echo "headers: ok"

format:
	clang-format -i $(LIB_SRC) $(wildcard lib/*/*.h include/drpc/*.h \
		cmd/*/*.c cmd/*/*.h test/*.c test/*.h test/fuzz/*.c)

clean:
	rm -rf build/release build/debug build/asan build/tsan build/fuzz

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CMDS:%=$(BUILD)/cmd/%/main.d) $(DUMP_OBJ:.o=.d)
-include $(BENCH_OBJ:.o=.d) $(GRPC_PEER_SRC:%.cc=$(BUILD)/%.d)
-include $(BUILD)/test/stress.d
-include $(PLUGIN_OBJ:.o=.d) $(TEST_GEN_OBJ:.o=.d) $(INTEROP_GEN_OBJ:.o=.d)
-include $(BUILD)/cmd/drpc-demo/main.d $(INTEROP_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
-include $(OBSERVE_OBJ:.o=.d)
