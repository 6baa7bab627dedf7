#!/usr/bin/python3
"""BitTorrent handshake probe (stdlib only), used as a readiness check.

usage: bt-probe.py HOST:PORT INFOHASH_HEX [--timeout S] [--bind IP] [--mse]

Connects, sends a 68-byte handshake (reserved byte 5 |= 0x10, peer id
"-PR0001-" + 12 random bytes), reads the 68-byte reply, checks pstr and info
hash. Exit 0 and print the peer's id on success; non-zero with a reason on
stderr otherwise. Only loopback targets are allowed.

With --mse, the handshake goes through message stream encryption first (a
Diffie-Hellman exchange, then RC4), for peers that require it. This is a
second, independent implementation of MSE: btext's own is in Go.
"""
import hashlib
import argparse
import ipaddress
import os
import socket
import sys
import time

PSTR = b"BitTorrent protocol"

# MSE: the 768-bit prime, generator 2.
MSE_P = int("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563", 16)


class RC4:
    def __init__(self, key):
        s = list(range(256))
        j = 0
        for i in range(256):
            j = (j + s[i] + key[i % len(key)]) % 256
            s[i], s[j] = s[j], s[i]
        self.s, self.i, self.j = s, 0, 0
        self.crypt(bytes(1024))  # MSE discards the first 1024 bytes

    def crypt(self, data):
        s, i, j = self.s, self.i, self.j
        out = bytearray(len(data))
        for n, b in enumerate(data):
            i = (i + 1) % 256
            j = (j + s[i]) % 256
            s[i], s[j] = s[j], s[i]
            out[n] = b ^ s[(s[i] + s[j]) % 256]
        self.i, self.j = i, j
        return bytes(out)


def sha1(*parts):
    return hashlib.sha1(b"".join(parts)).digest()


class MSESocket:
    """The connecting side of MSE, offering RC4 only; send/recv go through RC4."""

    def __init__(self, sock, skey, deadline):
        self.sock, self.deadline = sock, deadline
        # Transmission 3.00 takes a connection whose first byte is 19 for a
        # plain handshake (docs/transmission-mse.md): 1 key in 256 starts so.
        for _ in range(16):
            x = int.from_bytes(os.urandom(20), "big")
            ya = pow(2, x, MSE_P).to_bytes(96, "big")
            if ya[0] != len(PSTR):
                break
        else:
            raise ValueError("MSE: 16 keys in a row began with 19")
        sock.sendall(ya + os.urandom(ord(os.urandom(1)) % 64))
        yb = int.from_bytes(recv_exact(sock, 96, deadline), "big")
        if not 1 < yb < MSE_P - 1:
            raise ValueError("MSE: peer's public key out of range")
        s = pow(yb, x, MSE_P).to_bytes(96, "big")
        if s[0] == 0:
            # rtorrent hashes such a secret without its leading zero byte
            # (btext's internal/peer/mse.go, ErrMSERedial): try again.
            raise ValueError("MSE: shared secret with a leading zero byte; run again")
        self.enc, self.dec = RC4(sha1(b"keyA", s, skey)), RC4(sha1(b"keyB", s, skey))
        req2, req3 = sha1(b"req2", skey), sha1(b"req3", s)
        step3 = sha1(b"req1", s) + bytes(a ^ b for a, b in zip(req2, req3))
        # VC, crypto_provide = RC4, len(PadC) = 0, len(IA) = 0
        step3 += self.enc.crypt(bytes(8) + (2).to_bytes(4, "big") + bytes(4))
        sock.sendall(step3)
        vc = RC4(sha1(b"keyB", s, skey)).crypt(bytes(8))
        window = b""
        while not window.endswith(vc):
            if len(window) > 512 + 8:
                raise ValueError("MSE: no verification constant after 512 bytes")
            window += recv_exact(sock, 1, deadline)
        self.dec.crypt(bytes(8))
        head = self.dec.crypt(recv_exact(sock, 6, deadline))
        if int.from_bytes(head[:4], "big") != 2:
            raise ValueError("MSE: peer selected %r" % head[:4])
        self.dec.crypt(recv_exact(sock, int.from_bytes(head[4:], "big"), deadline))

    def sendall(self, data):
        self.sock.sendall(self.enc.crypt(data))

    def recv(self, n):
        return self.dec.crypt(self.sock.recv(n))

    def settimeout(self, t):
        self.sock.settimeout(t)

    def close(self):
        self.sock.close()


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


def handshake(host, port, info_hash, timeout, bind=None, mse=False):
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
        if mse:
            sock = MSESocket(sock, info_hash, deadline)
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
    ap.add_argument("--mse", action="store_true", help="message stream encryption (RC4) first")
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
        sock, reply = handshake(host, port, ih, a.timeout, a.bind, a.mse)
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
