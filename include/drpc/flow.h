// Flow control: how a connection bounds the memory its peer can make it
// hold, per stream and in total (docs/design.md §9, docs/protocol.md §13).
#ifndef DRPC_FLOW_H
#define DRPC_FLOW_H

#ifdef __cplusplus
extern "C" {
#endif

// drpc_flow_mode chooses whether a connection uses flow control.
//   DRPC_FLOW_AUTO  (the default) only when the peer has it too: the
//                   client announces it with a hello frame every DRPC
//                   peer ignores, and a libdrpc server answers; against
//                   Go DRPC and other plain peers nothing changes.
//   DRPC_FLOW_ON    always, from the first byte, without waiting for the
//                   peer's answer: for peers configured alike that do not
//                   negotiate (cockroachdb/drpc with flow control on).
//                   The peer's window is assumed equal to ours.
//   DRPC_FLOW_OFF   never: a hello still goes (and is answered) to find
//                   out whether the peer multiplexes (drpc/multiplex.h),
//                   but it asks for no flow control.
// ON expects the peer to count too: against a libdrpc peer set to OFF, or
// a plain peer, an ON connection stalls once it has sent a window.
typedef enum drpc_flow_mode {
	DRPC_FLOW_AUTO = 0,
	DRPC_FLOW_ON   = 1,
	DRPC_FLOW_OFF  = 2,
} drpc_flow_mode;

#ifdef __cplusplus
}
#endif

#endif // DRPC_FLOW_H
