#!/usr/bin/python3
"""Have libtorrent fetch a torrent's metadata from one peer, by magnet.

usage: lt-fetch-from.py MAGNET HOST:PORT [--timeout S] [--bind IP] [--tcp]

A libtorrent session on 127.0.0.1 (or --bind, a loopback address: it listens
and connects from there; DHT, LSD, UPnP, NAT-PMP off) adds the
magnet, connects to HOST:PORT, and waits for metadata_received_alert.
Prints "<v1 hex> <metadata size> <name>" and exits 0, or exits 1 on timeout
or error with the reason on stderr. --tcp turns uTP off: libtorrent tries
uTP first, and a peer that only listens on TCP (btext serve, a TCP relay)
costs it a 3 s connect timeout before it falls back to TCP.
"""
import argparse
import sys
import tempfile
import time

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("magnet")
    ap.add_argument("peer")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--tcp", action="store_true", help="TCP only, no uTP")
    a = ap.parse_args()
    if not a.bind.startswith("127."):
        sys.exit("lt-fetch-from: --bind must be a 127/8 address")
    host, port = a.peer.rsplit(":", 1)
    host = host.strip("[]")
    if not (host.startswith("127.") or host == "::1"):
        sys.exit("lt-fetch-from: only loopback peers")
    settings = {
        "listen_interfaces": a.bind + ":0",
        "outgoing_interfaces": a.bind,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification
        | lt.alert.category_t.peer_notification,
    }
    if a.tcp:
        settings.update({"enable_outgoing_utp": False, "enable_incoming_utp": False})
    ses = lt.session(settings)
    save = tempfile.mkdtemp(prefix="lt-fetch-")
    p = lt.parse_magnet_uri(a.magnet)
    p.save_path = save
    p.trackers = []
    h = ses.add_torrent(p)
    h.connect_peer((host, int(port)))
    deadline = time.time() + a.timeout
    last_connect = time.time()
    while time.time() < deadline:
        ses.wait_for_alert(200)
        for al in ses.pop_alerts():
            if isinstance(al, lt.metadata_received_alert):
                ti = h.torrent_file()
                print(str(ti.info_hashes().v1), len(ti.info_section()), ti.name())
                return 0
            if isinstance(al, (lt.metadata_failed_alert, lt.peer_error_alert, lt.peer_disconnected_alert)):
                print("lt-fetch-from: %s" % al.message(), file=sys.stderr)
        if time.time() - last_connect > 3 and not h.status().has_metadata:
            h.connect_peer((host, int(port)))
            last_connect = time.time()
    sys.exit("lt-fetch-from: no metadata within %gs" % a.timeout)


if __name__ == "__main__":
    sys.exit(main())
