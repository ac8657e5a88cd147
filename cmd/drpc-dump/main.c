// drpc-dump decodes a recorded DRPC byte stream (one direction of one
// connection) into a list of frames and the packets they reassemble into
// (dump.c; `drpc dump` is the same).
#include "dump.h"

int
main(int argc, char **argv)
{
	return drpc_dump_main("drpc-dump", argc, argv);
}
