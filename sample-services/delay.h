/*
 * delay — the --delay-ms latency without tying up a thread: the HTTP layer suspends a
 * connection whose answer is ready (MHD_suspend_connection) and hands it here; one timer thread
 * keeps a min-heap of due times and resumes each connection when its time comes, and
 * libmicrohttpd then calls the handler again to send the answer.
 */
#ifndef HERD_SVC_DELAY_H
#define HERD_SVC_DELAY_H

#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

/* Starts the timer thread: 0, or -1 with err filled. */
int delay_start(char *err, size_t errlen);
/* Suspends conn (from inside its access handler) and resumes it after delay_us: 0, or -1 when
 * shutting down or out of memory, in which case conn is not suspended and the caller answers
 * now. */
int delay_suspend(struct MHD_Connection *conn, uint64_t delay_us);
/* Resumes every waiting connection at once, refuses new ones, joins the thread. */
void delay_stop(void);

#endif
