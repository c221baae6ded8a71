/*
 * wire — one protobuf Envelope per ZeroMQ message (proto/herd.proto), with the protocol
 * version checked, a size limit per direction and a memory budget for decoding, so a bad
 * peer costs a log line, never a crash or a burst of memory.
 *
 * A ROUTER side (the master) passes the peer's routing id; a DEALER side (a worker) passes
 * NULL. Sends never block: a full or unroutable peer makes wire_send return -1 (the heartbeat
 * logic notices a peer that stays unreachable).
 *
 * Size limits. Each socket refuses bigger messages on receipt (ZMQ_MAXMSGSIZE: ZeroMQ drops
 * the connection of a peer that sends one; wire_recv checks again), and wire_send refuses to
 * send them, so a message a peer would refuse never leaves.
 *
 * - Master to worker, WIRE_MAX_TO_WORKER_BYTES: the biggest is a Spawn, which carries the
 *   scenario file (herd-master reads at most 16 MiB of it), the files it names (at most
 *   SCENARIO_MAX_FILES_BYTES, 32 MiB, over all of them) with the host, tags and class
 *   targets: 16 MiB + 32 MiB + 4 MiB.
 * - Worker to master, WIRE_MAX_TO_MASTER_BYTES: the biggest is a Report, a stats delta. What a
 *   worker puts in one (stats_to_report) is bounded by what it counts:
 *     rows: one per (method, name) of the scenario's steps, at most 10 000 (the loader's
 *       step limit); counters <= 13 x 11 bytes, a method <= 7 bytes, a name (the master
 *       refuses names over 2 KiB; the paths and names of real files are tens of bytes):
 *       10 000 rows x ~250 bytes = 2.5 MB;
 *     histogram buckets: at most 14 336 per histogram (hist.h), two per row, and never more
 *       than the requests the row counted; a bucket is an index (<= 2 bytes) and a count
 *       (<= 3 bytes below 2^21 per second): 5 bytes, so even 100 rows with every bucket of
 *       both histograms filled in one report (which takes millions of requests spread over
 *       every latency from 1 us to 19 hours) is 14.3 MB;
 *     failure groups: one per (row, message) seen; messages are libcurl's, "HTTP nnn" or a
 *       template error quoting at most 40 bytes of a value: ~100 bytes each;
 *     seconds: one per second the delta covers (one, or the unacknowledged seconds after a
 *       reconnect), ~20 bytes each.
 *   16 MiB holds that worst histogram case with the counters of every row allowed; a real
 *   report is kilobytes (tens of rows, each with the few hundred buckets its latencies
 *   fall in). The master also refuses a report of more than 10 000 rows or failure groups
 *   (stats_wire.h).
 *
 * Decoding budget. protobuf-c's default allocator lets a small message allocate far more
 * than its size: an empty StatEntry is 2 bytes on the wire and ~200 bytes decoded, so 2 MB
 * of them took 170 MB. wire_recv decodes with an allocator that refuses to allocate more than
 * WIRE_DECODE_BASE_BYTES + WIRE_DECODE_BYTES_PER_BYTE x the message's size in all, and
 * refuses the message when that is spent. The factor covers bulk data (a packed count of 1
 * byte is 8 bytes decoded; a string about 1); the base covers the per-element overhead
 * (struct, pointer, protobuf-c's scan slots: up to ~300 bytes for an entry of 18 bytes) of
 * the elements whose number the worker bounds: 10 000 rows take ~3 MB of it.
 *
 * Log lines (a Log message): a worker sends at most WIRE_MAX_LOG_LINES lines of at most
 * WIRE_MAX_LOG_TEXT_BYTES each (it cuts its lines at 511 bytes); the master drops a Log
 * message beyond either, or with a level or time out of range.
 *
 * Version. Adding a field or a body is compatible and keeps the version: an older peer skips
 * an unknown field (Heartbeat.memory_bytes) and drops an Envelope whose body it does not know
 * (a Log from a newer worker) as a bad message, while everything else between them works.
 */
#ifndef HERD_WIRE_H
#define HERD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herd.pb-c.h"

#define HERD_PROTOCOL_VERSION 1
#define WIRE_MAX_TO_WORKER_BYTES ((size_t)52 << 20)  /* received by a DEALER */
#define WIRE_MAX_TO_MASTER_BYTES ((size_t)16 << 20)  /* received by a ROUTER */
#define WIRE_DECODE_BASE_BYTES ((size_t)8 << 20)
#define WIRE_DECODE_BYTES_PER_BYTE 8
#define WIRE_MAX_ID_BYTES 255
#define WIRE_MAX_LOG_LINES 100        /* lines in one Log message */
#define WIRE_MAX_LOG_TEXT_BYTES 1024  /* bytes of one log line's text */

/* Apply herd's socket options: linger 0, the message size limit of what this socket
 * receives (by its type: ROUTER, the master, gets worker messages; DEALER, a worker, gets
 * master messages), heartbeat-friendly queues. */
int wire_socket_setup(void *sock, char *err, size_t errlen);

/* Pack env (its version is set here) and send it, preceded by the identity frame when id
 * is not NULL. Returns 0 or -1 (err filled), also when the packed message is over the limit
 * of its direction (nothing is sent then). */
int wire_send(void *sock, const void *id, size_t id_len, Herd__Envelope *env, char *err,
              size_t errlen);

/* Receive one message (non-blocking: call when zmq_poll says readable). When router is
 * true the first frame is the identity, copied to id (WIRE_MAX_ID_BYTES + 1 bytes, raw bytes:
 * escape them before printing) with its length in *id_len. Returns the unpacked envelope
 * (free with wire_free), or NULL: *again set when nothing was waiting, otherwise the message
 * was bad (over the size limit, over the decoding budget, undecodable, another version, no
 * body) and err says why. */
Herd__Envelope *wire_recv(void *sock, bool router, char *id, size_t *id_len, bool *again,
                          char *err, size_t errlen);
void wire_free(Herd__Envelope *env);

/* Decode one message body of len bytes (what wire_recv does after receiving it), with the
 * decoding budget above: the envelope, or NULL with err. */
Herd__Envelope *wire_decode(const uint8_t *data, size_t len, char *err, size_t errlen);

/* Bytes a decode of a len-byte message may allocate. */
size_t wire_decode_budget(size_t len);

/* id as text for a log line: printable ASCII as is, every other byte (and '\\') as \xNN,
 * cut after max_bytes bytes of id with "..." (out: at least 4 x max_bytes + 4 bytes).
 * Returns out. */
char *wire_show_id(const char *id, size_t id_len, size_t max_bytes, char *out, size_t outlen);

/* The body's name for logs: "Hello", "Report", ... */
const char *wire_body_name(const Herd__Envelope *env);

#endif
