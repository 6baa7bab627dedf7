#!/usr/bin/python3
"""BitTorrent handshake probe (stdlib only), used as a readiness check.

usage: bt-probe.py HOST:PORT INFOHASH_HEX [--timeout S] [--bind IP]

Connects, sends a 68-byte handshake (reserved byte 5 |= 0x10, peer id
"-PR0001-" + 12 random bytes), reads the 68-byte reply, checks pstr and info
hash. Exit 0 and print the peer's id on success; non-zero with a reason on
stderr otherwise. Only loopback targets are allowed.
"""
import argparse
import ipaddress
import os
import socket
import sys
import time

PSTR = b"BitTorrent protocol"


def split_hostport(s):
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        return host, int(rest.lstrip(":"))
    host, _, port = s.rpartition(":")
    return host, int(port)


def is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def recv_exact(sock, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out after %d of %d bytes" % (len(buf), n))
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def handshake(host, port, info_hash, timeout, bind=None):
    """Do the BT handshake; return (sock, reply bytes). Raises on failure."""
    deadline = time.monotonic() + timeout
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if bind:
            sock.bind((bind, 0))
        sock.settimeout(timeout)
        sock.connect((host, port))
        reserved = bytearray(8)
        reserved[5] |= 0x10
        peer_id = b"-PR0001-" + os.urandom(12)
        sock.sendall(bytes([len(PSTR)]) + PSTR + bytes(reserved) + info_hash + peer_id)
        reply = recv_exact(sock, 68, deadline)
        if reply[0] != 19 or reply[1:20] != PSTR:
            raise ValueError("bad pstr in reply: %r" % reply[:20])
        if reply[28:48] != info_hash:
            raise ValueError("info hash mismatch: %s" % reply[28:48].hex())
        return sock, reply
    except BaseException:
        sock.close()
        raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target", help="HOST:PORT (loopback only)")
    ap.add_argument("infohash", help="40 hex digits (v1 info hash)")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--bind", default=None, help="local source IP (loopback)")
    a = ap.parse_args()
    try:
        host, port = split_hostport(a.target)
        ih = bytes.fromhex(a.infohash)
        if len(ih) != 20:
            raise ValueError("info hash must be 20 bytes")
    except ValueError as e:
        print("bt-probe: bad argument: %s" % e, file=sys.stderr)
        return 2
    if not is_loopback(host) or (a.bind and not is_loopback(a.bind)):
        print("bt-probe: refusing non-loopback address", file=sys.stderr)
        return 2
    try:
        sock, reply = handshake(host, port, ih, a.timeout, a.bind)
    except Exception as e:
        print("bt-probe: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    sock.close()
    pid = reply[48:68]
    # peer id on stdout (non-printable bytes escaped), reserved bytes on stderr
    print(pid.decode("latin-1").encode("unicode_escape").decode("ascii"))
    print("bt-probe: reserved=%s" % reply[20:28].hex(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
