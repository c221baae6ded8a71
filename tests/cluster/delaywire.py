"""A wire with a delay: two TAP devices, every Ethernet frame read from one written to the other
DELAY_MS later (both ways), in order. Run inside the cluster tests' switch namespace when the
kernel has no netem qdisc: each TAP device is put on a bridge, so the hosts on one bridge reach
those on the other through this wire, every packet (TCP, ARP, everything) delayed.

    python3 delaywire.py TAP_A TAP_B DELAY_MS

Prints `ready` once both devices exist (the caller then sets them up and on their bridges);
ends on SIGTERM or SIGKILL, and the devices go with it (they are not persistent). A frame that
cannot be written at its time (the device's queue full) is dropped, as a full queue would.
"""
import fcntl
import heapq
import os
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main():
    a_name, b_name, delay_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    delay = delay_ms / 1000.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    a, b = open_tap(a_name), open_tap(b_name)
    other = {a: b, b: a}
    print("ready", flush=True)
    queue = []   # (due, n, out_fd, frame): n keeps frames of one due time in order
    n = 0
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            try:
                os.write(out, frame)
            except (BlockingIOError, OSError):
                pass
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 1.0
        readable, _, _ = select.select([a, b], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            for _ in range(64):
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                n += 1
                heapq.heappush(queue, (now + delay, n, other[fd], frame))


if __name__ == "__main__":
    main()
