#!/usr/bin/python3
"""Show what a peer sends in its BEP 10 extended handshake (stdlib only).

usage: ext-handshake.py HOST:PORT INFOHASH_HEX [--timeout S] [--bind IP]
                        [--no-send] [--delay S] [--payload BENCODE] [--fetch]

Does the BT handshake (see bt-probe.py), then sends our extended handshake
(default payload d1:md11:ut_metadatai2eee) unless --no-send, and logs every
message the peer sends, with its time since connect, until the peer's
extended handshake has arrived (and 0.3 s more) or the timeout expires.
Prints the peer's extended handshake payload raw (Python bytes repr) and
decoded. Exit 0 if the peer sent an extended handshake, 1 otherwise.
With --fetch it then asks for the metadata (ut_metadata, one piece in flight,
our ut_metadata id being 2 as in the default payload), checks its SHA-1
against the info hash and exits 0 only if it matches. --no-send --fetch shows
what a peer does with a request that comes before our extended handshake.
"""
import hashlib
import argparse
import importlib.util
import os
import socket
import struct
import sys
import time

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("bt_probe", os.path.join(_here, "bt-probe.py"))
bt_probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bt_probe)

NAMES = {0: "choke", 1: "unchoke", 2: "interested", 3: "not_interested", 4: "have",
         5: "bitfield", 6: "request", 7: "piece", 8: "cancel", 9: "port",
         13: "suggest", 14: "have_all", 15: "have_none", 16: "reject",
         17: "allowed_fast", 20: "extended"}


def bdecode(b, i=0):
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while b[i:i + 1] != b"e":
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while b[i:i + 1] != b"e":
            k, i = bdecode(b, i)
            v, i = bdecode(b, i)
            out[k] = v
        return out, i + 1
    if c.isdigit():
        j = b.index(b":", i)
        n = int(b[i:j])
        return b[j + 1:j + 1 + n], j + 1 + n
    raise ValueError("bad bencode at %d: %r" % (i, b[i:i + 10]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("infohash")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--bind", default=None)
    ap.add_argument("--no-send", action="store_true", help="never send our ext handshake")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="seconds to wait after the BT handshake before sending ours")
    ap.add_argument("--payload", default="d1:md11:ut_metadatai2eee")
    ap.add_argument("--fetch", action="store_true", help="fetch and verify the metadata")
    a = ap.parse_args()
    host, port = bt_probe.split_hostport(a.target)
    if not bt_probe.is_loopback(host) or (a.bind and not bt_probe.is_loopback(a.bind)):
        print("refusing non-loopback address", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    sock, reply = bt_probe.handshake(host, port, bytes.fromhex(a.infohash), a.timeout, a.bind)
    el = lambda: time.monotonic() - t0
    print("%.3fs handshake: peer_id=%r reserved=%s" % (el(), reply[48:68], reply[20:28].hex()))
    deadline = t0 + a.timeout
    sent = a.no_send
    send_at = time.monotonic() + a.delay
    buf = b""
    ext = None
    stop_at = None
    closed = False
    ih = bytes.fromhex(a.infohash)
    fetch = None  # dict(peer_id=, size=, pieces={}, next=) once started
    fetched_ok = None
    while True:
        now = time.monotonic()
        if not sent and now >= send_at:
            payload = a.payload.encode()
            sock.sendall(struct.pack(">IBB", len(payload) + 2, 20, 0) + payload)
            print("%.3fs sent our extended handshake %r" % (el(), payload))
            sent = True
        end = min(x for x in (deadline, stop_at, None if sent else send_at) if x is not None)
        if now >= end:
            break
        sock.settimeout(max(0.01, end - now))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError as e:
            print("%.3fs recv error: %s" % (el(), e))
            closed = True
            break
        if not chunk:
            print("%.3fs peer closed the connection" % el())
            closed = True
            break
        buf += chunk
        while len(buf) >= 4:
            n = struct.unpack(">I", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            msg, buf = buf[4:4 + n], buf[4 + n:]
            if n == 0:
                print("%.3fs keepalive" % el())
                continue
            mid = msg[0]
            name = NAMES.get(mid, "id%d" % mid)
            if mid == 20:
                print("%.3fs extended id=%d len=%d" % (el(), msg[1], n))
                if msg[1] == 0 and ext is not None:
                    print("      another ext id 0 message: %r" % msg[2:80])
                if msg[1] == 0 and ext is None:
                    ext = msg[2:]
                    stop_at = time.monotonic() + 0.3
                    if a.fetch:
                        d, _ = bdecode(ext)
                        pid_ = d.get(b"m", {}).get(b"ut_metadata", 0)
                        size = d.get(b"metadata_size", 0)
                        if not (1 <= pid_ <= 255) or not (0 < size <= 8 << 20):
                            print("cannot fetch: ut_metadata=%r metadata_size=%r" % (pid_, size))
                            fetched_ok = False
                        else:
                            fetch = {"id": pid_, "size": size, "data": b"", "n": (size + 16383) // 16384}
                            stop_at = None
                elif msg[1] == 2 and fetch is not None:
                    d, end_ = bdecode(msg[2:])
                    mt, pc = d.get(b"msg_type"), d.get(b"piece")
                    print("%.3fs ut_metadata msg_type=%r piece=%r total_size=%r data=%d"
                          % (el(), mt, pc, d.get(b"total_size"), len(msg) - 2 - end_))
                    if mt == 1 and pc == len(fetch["data"]) // 16384:
                        fetch["data"] += msg[2 + end_:]
                        if len(fetch["data"]) >= fetch["size"]:
                            fetched_ok = hashlib.sha1(fetch["data"]).digest() == ih
                            print("%.3fs metadata %d bytes, sha1 %s" % (el(), len(fetch["data"]),
                                  "matches info hash" if fetched_ok else "MISMATCH"))
                            fetch = None
                            stop_at = time.monotonic() + 0.3
                    elif mt == 2:
                        fetched_ok = False
                        fetch = None
                        stop_at = time.monotonic() + 0.3
                if fetch is not None and fetch.get("asked") != len(fetch["data"]) // 16384:
                    piece = len(fetch["data"]) // 16384
                    req = b"d8:msg_typei0e5:piecei%dee" % piece
                    sock.sendall(struct.pack(">IBB", len(req) + 2, 20, fetch["id"]) + req)
                    fetch["asked"] = piece
                    print("%.3fs sent ut_metadata request piece %d (to peer id %d)" % (el(), piece, fetch["id"]))
            elif mid == 5:
                print("%.3fs bitfield %s" % (el(), msg[1:].hex()))
            else:
                print("%.3fs %s len=%d %s" % (el(), name, n, msg[1:21].hex()))
    sock.close()
    if ext is None:
        print("no extended handshake received%s" % (" (closed)" if closed else ""))
        return 1
    print("RAW %r" % ext)
    try:
        d, _ = bdecode(ext)
        print("DECODED %r" % d)
    except Exception as e:
        print("DECODE ERROR %s" % e)
    if a.fetch:
        print("FETCH %s" % ("ok" if fetched_ok else "failed"))
        return 0 if fetched_ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
