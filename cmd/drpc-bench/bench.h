// drpc-bench's private header: what its files share. docs/benchmarks.md
// describes the method, the figures measured on the project's machine and
// the targets.
//
// Design notes. One binary plays both sides. By default a server runs in
// this process on 127.0.0.1 (an ephemeral port) and every workload dials
// it over loopback TCP; `--server ADDR` only serves (until SIGINT or
// SIGTERM) and `--client ADDR` measures against such a server in another
// process. Beside its DRPC listener the server runs a raw TCP listener
// (messages prefixed with a 4-byte big-endian length) for the baseline; a
// client learns its port, and the server's RSS and thread count, with the
// Info method. The flow workload starts a second DRPC server of its own,
// with flow control off, for its runs without it (in this process only).
//
// Repetitions run rep-major: every selected workload once, then all of
// them again, so a libdrpc figure and the raw figure it is divided by are
// measured at nearby times. Each figure is the median of the repetitions,
// printed with their spread (min-max).
//
// Every workload runs under a watchdog. Past its time budget the watchdog
// closes the workload's connections and shuts its sockets down, so every
// blocked call fails and the workload aborts with a message; if the
// workload still has not returned 15 s later the process exits (status 3).
// A workload that fails is reported and not repeated; the exit status is
// then 1.
//
// The files, each on its own concern:
//
//   util.c      time, byte order, latency statistics, /proc, getrusage,
//               threads and the start gate
//   watchdog.c  the watchdog that bounds every workload
//   raw.c       raw TCP: addresses, sockets, the buffered reader, the raw
//               baseline's server
//   server.c    the DRPC server: the handlers, start and stop, --server
//   wl_rpc.c    client helpers; unary latency and throughput, stream
//               throughput, bidi latency
//   wl_scale.c  idle streams at scale
//   wl_flow.c   flow control's cost and benefit
//   wl_raw.c    the raw baseline's client side
//   report.c    the results table, the targets, text and JSON output
//   main.c      arguments, the run loop, main
//   twoproc.c   --two-process: the servers in child processes, raw TCP,
//               libdrpc and gRPC C++ (grpc/, drpc-bench-grpc) per workload
//   procs.c     child processes: spawn, read, stop, reap; signals
//   tp_report.c --two-process's table, summary, targets and JSON
//
// Thread safety: the run is driven by one thread (main's); a workload's
// own threads, the watchdog and (two-process mode) the signal thread share
// only what their files say. No file keeps mutable state outside the
// structures below.
#ifndef DRPC_CMD_BENCH_H
#define DRPC_CMD_BENCH_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <drpc/drpc.h>

#define BENCH_MAX_REPS 15
#define BENCH_MAX_ROWS 160
#define BENCH_SMALL    16                   // the small payload, bytes
#define BENCH_STACK    ((size_t) 256 << 10) // stacks of our own threads
#define BENCH_WARMUP   200                  // untimed calls before a loop
#define NS_PER_S       ((int64_t) 1000000000)
#define NS_PER_MS      ((int64_t) 1000000)

#define M_UNARY    "/bench.Bench/Unary"
#define M_DOWNLOAD "/bench.Bench/Download"
#define M_UPLOAD   "/bench.Bench/Upload"
#define M_BIDI     "/bench.Bench/Bidi"
#define M_IDLE     "/bench.Bench/Idle"
#define M_STALL    "/bench.Bench/Stall"
#define M_INFO     "/bench.Bench/Info"
#define M_USAGE    "/bench.Bench/Usage"

// The raw protocol: the client sends a 12-byte command (op, size,
// duration in ms, each a big-endian uint32), then messages flow as a
// 4-byte big-endian length and the body. RAW_OP_ECHO echoes every message;
// RAW_OP_SEND sends messages of `size` bytes back-to-back for the
// duration, one send() each, then the length RAW_END; RAW_OP_SEND_BATCHED
// does the same but gathers whole messages into 64 KiB writes;
// RAW_OP_USAGE answers with the server process's usage (USAGE_WIRE_LEN
// bytes, usage_encode) and closes.
#define RAW_OP_ECHO         1u
#define RAW_OP_SEND         2u
#define RAW_OP_SEND_BATCHED 3u
#define RAW_OP_USAGE        4u
#define RAW_BATCH           ((size_t) 64 << 10)
#define RAW_END             UINT32_MAX
#define RAW_CMD_LEN         12
#define RAW_RDBUF           ((size_t) 256 << 10)
#define RAW_EOF             (-1) // a raw I/O result: the peer closed

// The server's idle_workers when 0 is given (include/drpc/server.h).
#define LIB_IDLE_WORKERS 16

#define WD_MAX_CONNS 4
#define WD_MAX_FDS   160
#define WD_GRACE_NS  (15 * NS_PER_S)

// The stream sizes (wl_rpc.c): bytes, names in ids, names for people.
#define STREAM_NSIZES 3
extern const size_t      stream_sizes[STREAM_NSIZES];
extern const char *const stream_size_names[STREAM_NSIZES];
extern const char *const stream_size_text[STREAM_NSIZES];

// The flow workload: 64 KiB messages (the raw baseline it is divided by
// is a stream of 64 KiB messages), 1 GiB per transfer (64 MiB --quick).
#define FLOW_MSG         ((size_t) 64 << 10)
#define FLOW_TOTAL       ((size_t) 1 << 30)
#define FLOW_TOTAL_QUICK ((size_t) 64 << 20)

// Workloads, in the order the results are printed.
enum {
	W_RAW         = 1u << 0,
	W_UNARY_LAT   = 1u << 1,
	W_UNARY_TPUT  = 1u << 2,
	W_STREAM_TPUT = 1u << 3,
	W_BIDI_LAT    = 1u << 4,
	W_SCALE       = 1u << 5,
	W_FLOW        = 1u << 6,
	W_TLS         = 1u << 7,
	W_ALL         = (1u << 8) - 1,
};

typedef struct workload_name {
	const char *name;
	unsigned    bit;
} workload_name;

// Every workload, in the order of the W_* bits (main.c).
#define WORKLOAD_COUNT 8
extern const workload_name workload_names[WORKLOAD_COUNT];

typedef struct bench_cfg {
	int         reps;
	bool        quick;
	bool        json;
	bool        workarounds; // for servers before e37f44c (two bugs)
	unsigned    only;        // W_* bits selected
	const char *serve_addr;
	const char *client_addr;
	size_t      handler_stack; // bytes
	size_t      idle_workers;  // 0: the library's default
	size_t      lat_calls;     // round trips per latency repetition
	int64_t     tput_ns;       // unary and raw 32-connection throughput
	int64_t     stream_ns;     // each stream-throughput case
	size_t      flow_total;    // bytes per flow transfer
	size_t      scale_counts[2];
	bool        two_process; // --two-process (twoproc.c)
	const char *grpc_peer;   // --grpc-peer: the gRPC peer's binary
	long        parent_pid;  // --parent-pid: serve while it lives
	const char *tls_cert;    // --tls-cert, --tls-key: --server's TLS
	const char *tls_key;     // listener's certificate chain and key
} bench_cfg;

// Utilities (util.c).

int64_t  now_ns(void);
void     put_u32(uint8_t *p, uint32_t v);
uint32_t get_u32(const uint8_t *p);
void     put_u64(uint8_t *p, uint64_t v);
uint64_t get_u64(const uint8_t *p);
void     fill_pattern(uint8_t *p, size_t len);
int      cmp_i64(const void *a, const void *b);
int      cmp_double(const void *a, const void *b);

// lat_median_us and lat_p99_us read a sorted array of nanoseconds.
double lat_median_us(const int64_t *v, size_t n);
double lat_p99_us(const int64_t *v, size_t n);

// proc_status_field reads a numeric field of /proc/self/status ("VmRSS:",
// "Threads:"); -1 if it cannot.
long proc_status_field(const char *field);
// meminfo_kib reads a field of /proc/meminfo in KiB, or -1.
long meminfo_kib(const char *field);
// proc_status_text copies the text of a /proc/self/status field, trimmed;
// proc_pid_status_text that of process pid ("?" if it cannot).
void proc_status_text(const char *field, char *buf, size_t cap);
void proc_pid_status_text(long pid, const char *field, char *buf, size_t cap);
// proc_pid_cpu_ns is the CPU time process pid has used (/proc/PID/stat:
// utime + stime), or -1.
int64_t proc_pid_cpu_ns(long pid);
// children_cpu_ns is the CPU time of the children this process has
// waited for (getrusage RUSAGE_CHILDREN).
int64_t children_cpu_ns(void);
// read_long_file reads the number a file holds, or -1.
long read_long_file(const char *path);

// usage is the process's CPU time and context switches (every thread's,
// including threads that have exited).
typedef struct usage {
	int64_t cpu_ns;
	long    vcs;    // voluntary context switches: a thread blocked
	long    ivcs;   // involuntary ones: a thread was preempted
	long    minflt; // minor page faults
} usage;

usage usage_now(void);

// usage_encode writes u in USAGE_WIRE_LEN bytes (four big-endian
// uint64: cpu_ns, vcs, ivcs, minflt); usage_decode reads it back.
#define USAGE_WIRE_LEN 32
void  usage_encode(uint8_t *p, usage u);
usage usage_decode(const uint8_t *p);

// aux is what a figure cost per operation: context switches, CPU
// microseconds and page faults of this process (client and server when
// they share it), and, in two-process mode, the server process's
// switches and CPU as the server reports them (srv_* -1: not known).
typedef struct aux {
	double vcs;
	double ivcs;
	double cpu_us;
	double flt;
	double srv_vcs;
	double srv_ivcs;
	double srv_cpu_us;
} aux;

// aux_per_op gives the costs per operation between u0 and u1 (all -1 if
// there were no operations); aux_add_server adds the server's.
aux  aux_per_op(usage u0, usage u1, double ops);
void aux_add_server(aux *a, usage s0, usage s1, double ops);

// machine_busy_ns is the CPU time every CPU of the machine spent running
// processes (/proc/stat: user, nice, system, steal), or -1.
int64_t machine_busy_ns(void);

// start_thread starts fn(arg) on a BENCH_STACK stack: 0 or an errno.
int start_thread(pthread_t *t, void *(*fn)(void *), void *arg);

// gate holds threads until the measurement starts. It needs no count
// (unlike pthread_barrier), so a thread that failed to start cannot hang
// the others.
typedef struct gate {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	bool            open; // guarded by mu
} gate;

int  gate_init(gate *g);
void gate_fini(gate *g);
void gate_wait(gate *g);
void gate_open(gate *g);

// The watchdog (watchdog.c).

typedef struct watchdog {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	pthread_t       t;
	// Guarded by mu:
	char       what[64];
	int64_t    deadline_ns; // 0: disarmed
	bool       fired;
	bool       quit;
	drpc_conn *conns[WD_MAX_CONNS];
	size_t     nconns;
	int        fds[WD_MAX_FDS];
	size_t     nfds;
	pid_t      pid;          // a child process the workload runs; 0: none
	void (*on_exit)(void *); // called before the watchdog exits
	void *on_exit_arg;
} watchdog;

int  wd_start(watchdog *wd);
void wd_stop(watchdog *wd);
// wd_arm starts watching a workload (what names it) for budget_ns.
void wd_arm(watchdog *wd, const char *what, int64_t budget_ns);
void wd_watch_conn(watchdog *wd, drpc_conn *c);
// wd_arm_conn is wd_arm, then wd_watch_conn(c): a workload on c.
void wd_arm_conn(
    watchdog *wd, const char *what, int64_t budget_ns, drpc_conn *c);
void wd_watch_fd(watchdog *wd, int fd);
// wd_watch_pid: the watchdog kills pid (SIGKILL) when it fires.
void wd_watch_pid(watchdog *wd, pid_t pid);
// wd_on_exit: fn(arg) runs before the watchdog exits the process.
void wd_on_exit(watchdog *wd, void (*fn)(void *), void *arg);
// wd_disarm ends the watch (it must come before the watched connections
// and sockets are destroyed) and tells whether the watchdog fired.
bool wd_disarm(watchdog *wd);

// Raw TCP (raw.c).

// split_tcp_addr splits "tcp://host:port" (host may be "[v6]").
bool split_tcp_addr(
    const char *addr, char *host, size_t hcap, char *port, size_t pcap);
// raw_dial connects to host:port; 0 or an errno (EAI failures: EHOSTUNREACH).
int raw_dial(const char *host, const char *port, int *fdp);
// sock_write_all writes every byte: 0 or an errno.
int sock_write_all(int fd, const void *buf, size_t len);

// raw_reader buffers a socket's input: one recv reads whatever is there.
typedef struct raw_reader {
	int      fd;
	uint8_t *buf;
	size_t   cap;
	size_t   pos;
	size_t   end;
} raw_reader;

int  rd_init(raw_reader *rd, int fd);
void rd_fini(raw_reader *rd);
// rd_need makes n (<= cap) bytes available at buf + pos: 0, RAW_EOF or an
// errno.
int rd_need(raw_reader *rd, size_t n);
// rd_skip consumes n bytes (any number) without keeping them.
int         rd_skip(raw_reader *rd, size_t n);
const char *raw_strerror(int rv);

// The raw server: an accept thread and a thread per connection.
typedef struct raw_conn {
	int              fd;
	pthread_t        t;
	atomic_bool      done;
	struct raw_conn *next;
} raw_conn;

typedef struct raw_server {
	int             lfd;
	uint16_t        port;
	pthread_t       t;
	pthread_mutex_t mu;
	raw_conn       *conns; // guarded by mu
} raw_server;

int  raw_server_start(raw_server *rs, const char *host);
void raw_server_stop(raw_server *rs);

// The DRPC server (server.c).

typedef struct bench_server {
	drpc_mux    *mux;
	drpc_server *srv;
	drpc_server *tls_srv; // the TLS listener's (NULL: none)
	raw_server   raw;
	bool         raw_up;
	// raw.port, published once the raw listener is up: h_info reads it
	// on handler threads, which the DRPC listener may start earlier.
	atomic_uint raw_port;
	size_t      idle_workers; // the pool's effective setting
	size_t      handler_stack;
	char        addr[300];
	// tls_port: the TLS listener's (0: none), published as raw_port.
	atomic_uint tls_port;
	// srv_icpt: the same service behind one no-op interceptor (and
	// nothing else), for the interceptor rows (wl_rpc.c); addr_icpt.
	drpc_server *srv_icpt;
	char         addr_icpt[300];
} bench_server;

// bench_server_opts is the options of the bench's servers: those of the
// command line, and the flow control mode given.
drpc_server_opts bench_server_opts(const bench_cfg *cfg, drpc_flow_mode flow);
// bench_server_start starts the DRPC server and its raw listener on
// addr; whatever it started, bench_server_stop stops, on failure too.
// bench_server_start serves addr (and the raw baseline beside it); with
// tls (may be NULL) a TLS listener too, on the same host.
drpc_err bench_server_start(bench_server *bs, const bench_cfg *cfg,
    const char *addr, const drpc_tls_config *tls);
void bench_server_stop(bench_server *bs);
// server_stop shuts srv down (NULL is a no-op) and frees it.
void server_stop(drpc_server *srv);
// run_server is --server: serve until SIGINT or SIGTERM; the exit status.
int run_server(const bench_cfg *cfg);

// Results (report.c).

typedef struct bench_row {
	char   id[64];       // machine name: "unary.latency.median_us"
	char   workload[24]; // "unary-latency"
	char   what[48];     // for people: "16 B: median µs"
	char   ratio_to[64]; // id of the row it is divided by, or ""
	double v[BENCH_MAX_REPS];
	aux    a[BENCH_MAX_REPS]; // the costs of each repetition that has them
	int    n;
	int    naux;
} bench_row;

typedef struct bench_table {
	bench_row rows[BENCH_MAX_ROWS];
	size_t    order[BENCH_MAX_ROWS]; // rows by workload, see table_sort
	size_t    n;
} bench_table;

bench_row *table_find(bench_table *t, const char *id);

// table_put records one repetition's value of a figure. a may be NULL.
void table_put(bench_table *t, const char *id, const char *workload,
    const char *what, const char *ratio_to, double v, const aux *a);

double median_of(const double *v, int n);
// table_median gives the median of a figure; false if it was not measured.
bool table_median(bench_table *t, const char *id, double *m);
// table_sort orders the rows by workload (workload_names), keeping the
// order they were first recorded in within a workload.
void table_sort(bench_table *t);

// A cost of a row's repetitions: this process's, the server's, or both
// together (client + server, two-process mode).
typedef enum aux_field {
	AUX_VCS,
	AUX_IVCS,
	AUX_CPU,
	AUX_FLT,
	AUX_SRV_VCS,
	AUX_SRV_IVCS,
	AUX_SRV_CPU,
	AUX_ALL_VCS,
	AUX_ALL_IVCS,
	AUX_ALL_CPU,
} aux_field;

// row_aux_median is the median of a cost over the repetitions; false if
// the row has none (or, for the server's, the server did not report).
bool row_aux_median(const bench_row *r, aux_field f, double *m);

// Targets: a bound on a figure, or on its ratio to another.
typedef enum target_op { T_LE, T_LT, T_GE } target_op;

bool target_ok(target_op op, double v, double bound);

// Child processes (procs.c), for --two-process.

#define PROCS_MAX 8

typedef struct proc_child {
	pid_t pid;
	int   out; // the read end of its stdout pipe; -1: closed
	bool  reaped;
	int   status; // its wait status, once reaped
	char  name[48];
} proc_child;

typedef struct procs {
	pthread_mutex_t mu;
	proc_child      kids[PROCS_MAX]; // guarded by mu
	size_t          n;               // guarded by mu
	bool            quit; // guarded by mu: the signal thread ends
	sigset_t        sigs; // what the signal thread waits for; immutable
	pthread_t       sig;  // the signal thread
} procs;

// procs_start blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 in the calling
// thread and starts the signal thread; call it before any other thread
// starts. 0 or an errno. procs_stop stops every child still running and
// the signal thread.
int  procs_start(procs *ps);
void procs_stop(procs *ps);
// procs_spawn starts argv (argv[0] a path) with its stdout on a pipe
// whose read end is *outp (procs owns it: it closes it when the child is
// reaped); false (with a message) if it cannot.
bool procs_spawn(
    procs *ps, const char *name, char *const argv[], pid_t *pidp, int *outp);
// procs_read_line reads a child's first line (without its newline) within
// timeout_ns; false if the child printed none (buf has what came).
bool procs_read_line(int fd, char *buf, size_t cap, int64_t timeout_ns);
// procs_read_all reads until the child closes its stdout, keeping the
// first cap - 1 bytes; false on a read error.
bool procs_read_all(int fd, char *buf, size_t cap);
// procs_await waits until pid has exited, without reaping it (its pid
// stays taken until procs_wait). procs_wait waits for pid to exit and
// reaps it; procs_end stops it
// (SIGTERM, then SIGKILL after 3 s) and reaps it. Both return its wait
// status.
void procs_await(pid_t pid);
int  procs_wait(procs *ps, pid_t pid);
int  procs_end(procs *ps, pid_t pid);
// procs_kill_all stops and reaps every child (arg is the procs): the
// signal thread's and the watchdog's last act.
void procs_kill_all(void *arg);
// procs_describe_status writes "exit status N" or "killed by signal N".
void procs_describe_status(int status, char *buf, size_t cap);

typedef struct bench bench;

// The tls workload (wl_tls.c): a CA and a server certificate made at run
// time with OpenSSL's API (PEM, in memory), the client's config trusting
// the CA, and the server's TLS address once known.
typedef struct bench_tls {
	char            *ca_pem;
	char            *cert_pem; // CN=localhost, IP:127.0.0.1
	char            *key_pem;
	drpc_tls_config *client;
	char             dir[64]; // two-process: the files for the server
	char             addr[300];
} bench_tls;

// tls_setup makes the certificates and configs; tls_server_config a
// server config from them (or, for --server, from files); tls_write_files
// writes cert and key into a new temporary directory for a --server
// child; tls_teardown frees and removes everything. False (with a
// message) on failure.
bool             tls_setup(bench_tls *t);
drpc_tls_config *tls_server_config(const bench_tls *t, const bench_cfg *cfg);
bool             tls_write_files(bench_tls *t, char *cert, char *key,
                size_t cap);
void             tls_teardown(bench_tls *t);
// heap_bytes is the bytes malloc has handed out and not taken back.
long heap_bytes(void);
bool wl_tls(bench *b);
// tls_print prints the tls workload's targets (and, if rows, its figures
// first) as text; tls_json its figures as a JSON member ("tls": {...}),
// with a comma first. Both print nothing if it did not run.
void tls_print(bench *b, bool rows);
void tls_json(bench *b);

// Two-process mode (twoproc.c runs it, tp_report.c prints it): for each
// workload ("step") raw TCP, then libdrpc, then gRPC C++, each client
// against a server in another process.

typedef enum tp_peer { TP_RAW, TP_DRPC, TP_GRPC, TP_PEERS } tp_peer;

#define TP_STEPS 7

typedef struct tp_step {
	const char *name; // for people: "server stream 4 KiB"
	unsigned    bit;  // the W_* workload it belongs to (--only)
	size_t      k;    // the stream size, for stream steps
} tp_step;

extern const tp_step     tp_steps[TP_STEPS];
extern const char *const tp_peer_names[TP_PEERS];

typedef struct tp_server {
	pid_t pid; // 0: not running
	char  addr[300];
	char  affinity[128]; // its Cpus_allowed_list
	char  version[32];   // gRPC's version
} tp_server;

typedef struct tp_state {
	procs     ps;
	tp_server drpc; // drpc-bench --server: libdrpc and the raw baseline
	tp_server grpc; // drpc-bench-grpc --server
	char      grpc_peer[512]; // the gRPC peer's binary
	bool      grpc_built;     // it exists
	bool      grpc_up;        // its server runs
	bool      selected[TP_STEPS];
	bool      failed[TP_STEPS][TP_PEERS];
} tp_state;

// run_two_process is --two-process: start the servers, run, report;
// the exit status.
int run_two_process(bench *b);
// tp_print_table and tp_print_json print the run (tp_report.c).
void tp_print_table(bench *b);
void tp_print_json(bench *b);

// The run (main.c holds it; the workloads read cfg and record into tab).

struct bench {
	bench_cfg   cfg;
	const char *addr;      // the DRPC server the workloads dial
	// addr_icpt: the in-process server with a no-op interceptor; NULL
	// (a remote server): no interceptor rows.
	const char *addr_icpt;
	char        host[256]; // the raw server's host and port
	char        raw_port[16];
	bool        remote;           // the server is another process
	drpc_mux   *mux;              // the local server's (NULL: remote)
	int         rep;              // the repetition running, from 0
	int64_t     run_ns;           // the whole run: wall time,
	int64_t     run_busy_ns;      // every CPU's busy time,
	int64_t     run_own_ns;       // this process's CPU time
	size_t      srv_idle_workers; // as the server reports them
	size_t      srv_handler_stack;
	unsigned    failed; // W_* bits of workloads that failed
	tp_state   *tp;     // --two-process only
	bench_tls   tls;    // the tls workload's (wl_tls.c)
	watchdog    wd;
	bench_table tab;
};

void print_table(bench *b);
void print_json(bench *b);
// bench_connect asks the server at b->addr where its raw baseline is.
bool bench_connect(bench *b);

// Output helpers (report.c). fmt_num prints v with precision by
// magnitude, thousands grouped; put_col prints s left- or right-aligned in
// width columns (UTF-8 aware); put_aux a cost's median (blank if none).
double min_of(const double *v, int n);
double max_of(const double *v, int n);
void   fmt_num(char *buf, size_t cap, double v);
void   put_col(const char *s, int width, bool right);
void   put_aux(const bench_row *r, aux_field f, int width);
// bench_col is a column of a text table; put_header prints the n titles
// (put_col) and a newline.
typedef struct bench_col {
	const char *title;
	int         width;
	bool        right;
} bench_col;
void put_header(const bench_col *cols, size_t n);
// put_median_spread prints r's median (13 columns) and its spread, min–max
// (25 columns); print_build_line the "  build:" line of both reports.
void put_median_spread(const bench_row *r);
void print_build_line(const bench *b);
// json_str prints s as a JSON string, json_array the n values, json_aux
// `key: median` if the row has that cost.
void json_str(const char *s);
void json_array(const double *v, int n);
void json_aux(const bench_row *r, const char *key, aux_field f);

// The client side's helpers (wl_rpc.c).

void report_call(const char *what, drpc_err rv, const drpc_status *st);
// report_stream reports a failed stream operation with the stream's
// status (the peer's error text, if it sent one).
void report_stream(const char *what, drpc_stream *s, drpc_err rv);
// dial_to dials addr with opts (NULL: the defaults).
bool dial_to(const char *wl, const char *addr, const drpc_conn_opts *opts,
    drpc_conn **cp);
bool bench_dial(const bench *b, const char *wl, drpc_conn **cp);

typedef struct server_info {
	long     rss_kib;
	long     threads;
	unsigned raw_port;
	size_t   idle_workers;
	size_t   handler_stack;
	long     heap_kib; // malloc'd bytes in use (heap_bytes)
	unsigned tls_port; // 0: no TLS listener
} server_info;

// bench_info asks the server about itself.
bool bench_info(drpc_conn *c, server_info *si);
// unary_calls makes n calls; lat (may be NULL) gets each one's duration.
bool unary_calls(
    drpc_conn *c, const char *wl, const uint8_t *req, size_t n, int64_t *lat);
// record_latency records the median and p99 of n samples (it sorts them).
void record_latency(bench *b, const char *prefix, const char *wl,
    const char *what, const char *ratio_prefix, int64_t *lat, size_t n,
    const aux *a);
// record_stream records a stream's MB/s and msgs/s (size k).
void record_stream(bench *b, const char *prefix, const char *wl,
    const char *dir, size_t k, uint64_t msgs, int64_t elapsed, const aux *a);
// latency_budget is the watchdog's budget for a latency loop.
int64_t latency_budget(const bench *b);
// stream_up_ack reads the handler's acknowledgement of the first message.
drpc_err stream_up_ack(drpc_stream *s);

// Costs around a timed loop. In two-process mode the server reports its
// own usage: a DRPC server through its Usage method on the workload's
// connection c, the raw server (c NULL) through RAW_OP_USAGE on a
// connection of its own. mark_begin asks the server first, then reads
// this process's usage; mark_end reads this process's, then asks the
// server: both processes' snapshots enclose the timed loop. Otherwise
// (one process, --client) only this process's usage is read. False (with
// a message) if the server could not be asked.
typedef struct cost_mark {
	usage self;
	usage srv;
	bool  srv_ok;
} cost_mark;

bool mark_begin(bench *b, drpc_conn *c, cost_mark *m);
bool mark_end(bench *b, drpc_conn *c, cost_mark *m);

// tput_clock times a throughput run's workers: they wait at start, then
// work while tput_going (until stop_ns), and any of them stops them all
// with tput_abort (wl_rpc.c). tput_go, once the workers have started (ok
// if all did), marks the costs' start over c (mark_begin) and opens the
// gate for b->cfg.tput_ns; if anything failed, the workers stop at once.
// It returns whether all went well, and the time the gate opened in *t0.
typedef struct tput_clock {
	gate        start;
	int64_t     stop_ns; // set before the gate opens
	atomic_bool abort;
} tput_clock;

int  tput_clock_init(tput_clock *k); // 0 or an errno
bool tput_going(tput_clock *k);
void tput_abort(tput_clock *k);
// tput_work is a worker's loop: once the gate opens, one(arg) while
// tput_going, counting each success in *n; false, having stopped every
// worker, at the first failure.
bool tput_work(tput_clock *k, bool (*one)(void *arg), void *arg, uint64_t *n);
bool tput_go(
    bench *b, drpc_conn *c, tput_clock *k, bool ok, cost_mark *m0, int64_t *t0);
aux  aux_between(const cost_mark *m0, const cost_mark *m1, double ops);

// The workloads: each true if it ran (a failure is on stderr).
bool wl_unary_latency(bench *b);
bool wl_unary_throughput(bench *b);
bool wl_stream_throughput(bench *b);
bool wl_bidi_latency(bench *b);
// tput_run: nthreads callers on one connection; stream_case: one stream
// (client stream if up) of stream_sizes[k] messages.
bool tput_run(bench *b, size_t nthreads);
// tput_run_on is tput_run, through a channel (drpc/channel.h) if channel.
bool tput_run_on(bench *b, size_t nthreads, bool channel);
// bench_noop_client_opts: conn opts with one no-op client interceptor.
drpc_conn_opts bench_noop_client_opts(void);
bool stream_case(bench *b, bool up, size_t k);
bool wl_streams_scale(bench *b);       // wl_scale.c
bool wl_flow(bench *b);                // wl_flow.c
// stream_down receives, stream_up sends, size-byte messages on c for
// cfg.stream_ns: (messages, elapsed).
bool stream_down(
    bench *b, drpc_conn *c, size_t size, uint64_t *msgs, int64_t *elapsed);
bool stream_up(
    bench *b, drpc_conn *c, size_t size, uint64_t *msgs, int64_t *elapsed);
bool wl_raw(bench *b, unsigned parts); // wl_raw.c: W_* bits needing raw

// The raw baseline's parts (wl_raw.c). raw_latency_run: the 16-byte
// ping-pong, recorded as prefix.median_us and prefix.p99_us (what names
// it); raw_stream_size: the stream of stream_sizes[k] messages (one
// send() each, or 64 KiB writes if batched); raw_pp32_run: the
// 32-connection ping-pong; raw_srv_usage asks the raw server for its
// process's usage.
bool raw_latency_run(bench *b, const char *prefix, const char *what);
bool raw_stream_size(bench *b, bool batched, size_t k);
bool raw_pp32_run(bench *b);
bool raw_srv_usage(const bench *b, usage *u);

#endif // DRPC_CMD_BENCH_H
