#!/usr/bin/python3
"""A loopback mainline DHT of python3-libtorrent nodes, one of them seeding.

usage: dht-net.py [--nodes N] [--silence K] [--work DIR] [--v6] [--timeout S]

Starts N libtorrent sessions (default 8), node i listening on 127.<i+1>.0.1
(libtorrent's DHT does not run on 0.0.0.0 or lo on loopback), links them with
add_dht_node, makes a v1-only torrent of random content in DIR (default: a
temporary directory) and seeds it from the last node, which announces it to
the DHT. With --v6 every node also listens on [::1] (BEP 32).

Ready when the seeder's announce is visible: node 0's own get_peers for the
info hash returns the seeder. Then K nodes (never node 0 nor the seeder) stop
answering DHT packets (--silence K: enable_dht off, the socket stays open so
packets vanish instead of drawing ICMP errors, as with a node gone away), and
one JSON line goes to stdout:

  {"nodes": ["127.1.0.1:P", ...], "nodes6": ["[::1]:P", ...],
   "silenced": [...], "info_hash": "<hex>", "seeder": "127.N.0.1:P",
   "ready_ms": 850}

"nodes" lists every node, silenced ones included (a client bootstrapped from
them meets silence); "seeder" is the seeder's BitTorrent listen address.
Runs until stdin closes or SIGTERM/SIGINT. Logs go to stderr. Exit 1 on error,
3 when a port is busy (caller may retry). Run with /usr/bin/python3.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

import libtorrent as lt

STOP = threading.Event()


def log(msg):
    sys.stderr.write("%.3f dht-net: %s\n" % (time.time(), msg))
    sys.stderr.flush()


def free_port(ips):
    """A port free for TCP and UDP on every address in ips."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        ok = True
        for ip in ips:
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(fam, kind)
                try:
                    s.bind((ip, port))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            return port
    raise SystemExit("dht-net: no free port")


def settings(listen):
    return {
        "listen_interfaces": listen,
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Bootstrap routers never enter routing tables: link nodes with
        # add_dht_node instead, and never reach a real router.
        "dht_bootstrap_nodes": "",
        # All nodes share 127/8: without this a node keeps one per /24 at most.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        # By default one source address is blocked after ~50 packets in 10 s.
        "dht_block_ratelimit": 100000,
        # Raised, never 0 (0 crashes 2.0.8 with SIGFPE).
        "dht_upload_rate_limit": 1000000,
        "max_retry_port_bind": 0,
        "alert_mask": lt.alert.category_t.dht_notification | lt.alert.category_t.dht_operation_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification,
    }


def make_torrent(work):
    content = os.path.join(work, "dht-net-content.bin")
    with open(content, "wb") as f:
        f.write(os.urandom(256 * 1024))
    fs = lt.file_storage()
    lt.add_files(fs, content)
    ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, work)
    path = os.path.join(work, "dht-net.torrent")
    with open(path, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    return lt.torrent_info(path)


def drain(sessions):
    for s in sessions:
        s.pop_alerts()


def start_node(ip, v6):
    """A session listening on ip (and [::1] with v6) on a free port; a port
    taken between the check and the bind is retried with another."""
    for _ in range(5):
        port = free_port([ip, "::1"] if v6 else [ip])
        listen = "%s:%d" % (ip, port)
        if v6:
            listen += ",[::1]:%d" % port
        s = lt.session(settings(listen))
        want = 4 if v6 else 2  # TCP and uTP per address
        ok, failed, deadline = 0, None, time.time() + 5
        while ok < want and failed is None and time.time() < deadline:
            s.wait_for_alert(100)
            for a in s.pop_alerts():
                if isinstance(a, lt.listen_succeeded_alert):
                    ok += 1
                elif isinstance(a, lt.listen_failed_alert):
                    failed = a.message()
        if ok == want:
            return s, port
        log("listen on %s: %s; retrying" % (listen, failed or "no answer"))
        s.pause()
        del s
    raise SystemExit(3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=8)
    ap.add_argument("--silence", type=int, default=0)
    ap.add_argument("--work")
    ap.add_argument("--v6", action="store_true")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    if a.nodes < 2 or a.nodes > 250:
        raise SystemExit("dht-net: --nodes must be 2..250")
    if a.silence < 0 or a.silence > a.nodes - 2:
        raise SystemExit("dht-net: --silence must leave node 0 and the seeder")
    work = a.work or tempfile.mkdtemp(prefix="dht-net.")
    own_work = a.work is None
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())

    start = time.time()
    ips = ["127.%d.0.1" % (i + 1) for i in range(a.nodes)]
    sessions, addrs, addrs6 = [], [], []
    try:
        for ip in ips:
            s, port = start_node(ip, a.v6)
            sessions.append(s)
            addrs.append((ip, port))
            if a.v6:
                addrs6.append("[::1]:%d" % port)
        # Link each node to its ring neighbour and a few random others.
        rng = random.Random(1)
        for i, s in enumerate(sessions):
            peers = {(i + 1) % a.nodes} | set(rng.sample(range(a.nodes), min(6, a.nodes)))
            peers.discard(i)
            for j in peers:
                s.add_dht_node(addrs[j])
                if a.v6:
                    s.add_dht_node(("::1", addrs[j][1]))

        ti = make_torrent(work)
        ih = ti.info_hashes().v1
        seeder = sessions[-1]
        h = seeder.add_torrent({"ti": ti, "save_path": work,
                                "flags": lt.torrent_flags.seed_mode})
        seeder_addr = "%s:%d" % (addrs[-1][0], seeder.listen_port())

        # Ready: node 0's get_peers finds the seeder.
        deadline = time.time() + a.timeout
        found = False
        last = 0
        while not found and time.time() < deadline and not STOP.is_set():
            if time.time() - last > 1:
                h.force_dht_announce()
                sessions[0].dht_get_peers(ih)
                last = time.time()
            for al in sessions[0].pop_alerts():
                if isinstance(al, lt.dht_get_peers_reply_alert) and al.info_hash == ih:
                    got = {"%s:%d" % (p[0], p[1]) for p in al.peers()}
                    if seeder_addr in got:
                        found = True
            for s in sessions[1:]:
                s.pop_alerts()
            time.sleep(0.05)
        if not found:
            log("the seeder's announce never became visible in %.0f s" % a.timeout)
            return 1

        # Never node 0 (the usual bootstrap) nor the seeder (last).
        silenced = []
        for j in sorted(random.Random(2).sample(range(1, a.nodes - 1), a.silence)):
            sessions[j].apply_settings({"enable_dht": False})
            silenced.append("%s:%d" % addrs[j])

        print(json.dumps({
            "nodes": ["%s:%d" % x for x in addrs],
            "nodes6": addrs6,
            "silenced": silenced,
            "info_hash": str(ih),
            "seeder": seeder_addr,
            "ready_ms": int((time.time() - start) * 1000),
        }), flush=True)

        def stdin_watch():
            try:
                while sys.stdin.read(4096):
                    pass
            except Exception:
                pass
            STOP.set()
        threading.Thread(target=stdin_watch, daemon=True).start()
        while not STOP.wait(0.5):
            drain(sessions)
        return 0
    finally:
        for s in sessions:
            s.pause()
        del sessions[:]
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
