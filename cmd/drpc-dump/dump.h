// The decoder of recorded DRPC bytes, shared by drpc-dump (main.c) and
// the drpc tool's `drpc dump` (cmd/drpc/main.cc): one implementation, the
// same output.
#ifndef DRPC_CMD_DUMP_H
#define DRPC_CMD_DUMP_H

#ifdef __cplusplus
extern "C" {
#endif

// drpc_dump_main runs drpc-dump with its arguments (argv[0] is skipped,
// as a program's name) and returns its exit status: 0 if every input
// decoded cleanly, 1 on malformed input or an I/O error, 2 on a usage
// error. prog ("drpc-dump", "drpc dump") starts every line on stderr and
// the usage. It writes to stdout and stderr, and may reorder argv.
int drpc_dump_main(const char *prog, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif // DRPC_CMD_DUMP_H
