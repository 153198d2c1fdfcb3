#!/usr/bin/python3
"""Delay packets, with jitter (and so reordering), where tc netem is missing.

    netdelay.py QUEUE DELAY_MS JITTER_MS

Binds netfilter queue QUEUE (an iptables rule "-j NFQUEUE --queue-num QUEUE
--queue-bypass" sends it the packets to delay) and gives each packet its
verdict, ACCEPT, DELAY_MS +- JITTER_MS (uniform) after it arrived.  Verdicts
are given out of order, so packets overtake one another when the jitter is
larger than their spacing: that is the reordering netem would do.  Only the
packets' metadata is copied to us, never their payload.

Run in the network namespace whose rule feeds the queue.  On SIGTERM every
held packet is released at once, so stopping the fault loses nothing.  The
kernel protocol (nfnetlink_queue) is spoken directly over a netlink socket:
Debian has no Python binding for it in its standard packages.
"""

import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2


def attr(kind, payload):
    """One netlink attribute, padded to four bytes."""
    n = 4 + len(payload)
    return struct.pack('=HH', n, kind) + payload + b'\0' * (-n % 4)


class Queue:
    def __init__(self, num):
        self.num = num
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
        self.sock.bind((0, 0))

    def send(self, msg_type, attrs, ack=False):
        self.seq += 1
        body = struct.pack('=BBH', socket.AF_UNSPEC, 0, socket.htons(self.num)) + b''.join(attrs)
        flags = NLM_F_REQUEST | (NLM_F_ACK if ack else 0)
        hdr = struct.pack('=IHHII', 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags,
                          self.seq, 0)
        self.sock.send(hdr + body)
        if ack:
            self.expect_ack()

    def expect_ack(self):
        data = self.sock.recv(65536)
        _, kind, _, _, _ = struct.unpack_from('=IHHII', data)
        if kind == NLMSG_ERROR:
            err = struct.unpack_from('=i', data, 16)[0]
            if err != 0:
                raise OSError(-err, 'nfnetlink_queue: %s' % os.strerror(-err))

    def bind(self):
        self.send(NFQNL_MSG_CONFIG, [attr(NFQA_CFG_CMD, struct.pack('>BBH', NFQNL_CFG_CMD_BIND, 0,
                                                                   socket.AF_INET))], ack=True)
        self.send(NFQNL_MSG_CONFIG, [attr(NFQA_CFG_PARAMS, struct.pack('>IB', 0, NFQNL_COPY_META)),
                                     attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack('>I', 8192)),
                                     attr(NFQA_CFG_MASK, struct.pack('>I', NFQA_CFG_F_FAIL_OPEN)),
                                     attr(NFQA_CFG_FLAGS, struct.pack('>I', NFQA_CFG_F_FAIL_OPEN))],
                  ack=True)

    def accept(self, packet_id):
        self.send(NFQNL_MSG_VERDICT, [attr(NFQA_VERDICT_HDR, struct.pack('>II', NF_ACCEPT,
                                                                         packet_id))])

    def packets(self):
        """The ids of the packets in one batch read from the socket."""
        data = self.sock.recv(1 << 20)
        ids = []
        off = 0
        while off + 16 <= len(data):
            length, kind, _, _, _ = struct.unpack_from('=IHHII', data, off)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                a = off + 20			# past nlmsghdr and nfgenmsg
                while a + 4 <= off + length:
                    alen, atype = struct.unpack_from('=HH', data, a)
                    if alen < 4:
                        break
                    if atype & 0x3fff == NFQA_PACKET_HDR:
                        ids.append(struct.unpack_from('>I', data, a + 4)[0])
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3
        return ids


def main():
    if len(sys.argv) != 4:
        sys.exit('usage: netdelay.py QUEUE DELAY_MS JITTER_MS')
    num, delay, jitter = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    q = Queue(num)
    q.bind()
    held = []			# (release time, packet id)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    print('netdelay: queue %d, %.0f +- %.0f ms' % (num, delay, jitter), flush=True)
    while not stopping:
        now = time.monotonic()
        while held and held[0][0] <= now:
            q.accept(heapq.heappop(held)[1])
        wait = max(0.0, held[0][0] - now) if held else 1.0
        try:
            ready, _, _ = select.select([q.sock], [], [], wait)
        except InterruptedError:
            continue
        if ready:
            try:
                ids = q.packets()
            except OSError:		# ENOBUFS: the kernel dropped some of ours
                continue
            now = time.monotonic()
            for pid in ids:
                d = max(0.0, delay + random.uniform(-jitter, jitter)) / 1000.0
                heapq.heappush(held, (now + d, pid))
    for _, pid in held:
        q.accept(pid)


if __name__ == '__main__':
    main()
