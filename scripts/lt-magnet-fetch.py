#!/usr/bin/python3
"""libtorrent's own magnet fetch, for scripts/bench-discovery.sh.

usage: lt-magnet-fetch.py MAGNET --listen IP:PORT [--dht-bootstrap HOST:PORT]
                          [--out FILE] [--timeout S]

One libtorrent session listening on IP:PORT (a loopback address of its own:
libtorrent's DHT does not run on 0.0.0.0 or lo on loopback). With
--dht-bootstrap the DHT is on and starts from that node only (never a real
router); without it the DHT is off and the magnet's tr= trackers are the only
source. LSD, UPnP and NAT-PMP are off. Waits for metadata_received_alert,
writes the .torrent to FILE when given, prints one JSON line
{"info_hash": hex, "metadata_ms": ms from adding the magnet to the metadata,
"session_ms": ms from the script's start to the metadata, "teardown_ms": ms
the session took to shut down} and exits 0; exits 1 with
the reason on stderr on timeout or error. Run with /usr/bin/python3.
"""
import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings

import libtorrent as lt


def loopback(host):
    host = host.strip("[]")
    return host.startswith("127.") or host == "::1"


def main():
    save = tempfile.mkdtemp(prefix="lt-magnet-")
    try:
        return fetch(save)
    finally:
        shutil.rmtree(save, ignore_errors=True)


def fetch(save):
    t0 = time.monotonic()
    ap = argparse.ArgumentParser()
    ap.add_argument("magnet")
    ap.add_argument("--listen", required=True)
    ap.add_argument("--dht-bootstrap")
    ap.add_argument("--out")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    if not loopback(a.listen.rsplit(":", 1)[0]):
        sys.exit("lt-magnet-fetch: --listen must be a loopback address")
    if a.dht_bootstrap and not loopback(a.dht_bootstrap.rsplit(":", 1)[0]):
        sys.exit("lt-magnet-fetch: only loopback DHT nodes")
    p = lt.parse_magnet_uri(a.magnet)
    for tr in p.trackers:
        host = tr.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        if not loopback(host):
            sys.exit("lt-magnet-fetch: only loopback trackers (%s)" % tr)
    dht = bool(a.dht_bootstrap)
    ses = lt.session({
        "listen_interfaces": a.listen,
        "enable_dht": dht,
        "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        # The one node given, not libtorrent's default router.
        "dht_bootstrap_nodes": a.dht_bootstrap or "",
        # Every node of the loopback DHT is in 127/8: without these libtorrent
        # keeps one node per /24 and drops the rest from its searches.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_block_ratelimit": 100000,
        "dht_upload_rate_limit": 1000000,
        # A tracker on 127.0.0.1 and peers on 127/8 are what the benchmark runs.
        "ssrf_mitigation": False,
        "announce_to_all_trackers": True,
        "max_retry_port_bind": 0,
        "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification,
    })
    p.save_path = save
    if not dht:
        p.flags |= lt.torrent_flags.disable_dht
    p.flags |= lt.torrent_flags.disable_lsd
    t1 = time.monotonic()
    h = ses.add_torrent(p)
    deadline = t1 + a.timeout
    while time.monotonic() < deadline:
        ses.wait_for_alert(100)
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_failed_alert):
                sys.exit("lt-magnet-fetch: %s" % al.message())
            if isinstance(al, lt.metadata_received_alert):
                t2 = time.monotonic()
                ti = h.torrent_file()
                if a.out:
                    ct = lt.create_torrent(ti)
                    with open(a.out, "wb") as f:
                        f.write(lt.bencode(ct.generate()))
                ih = str(ti.info_hashes().v1)
                # The session's teardown is part of the process's run: time it.
                del h, ti
                del ses
                t3 = time.monotonic()
                print(json.dumps({"info_hash": ih,
                                  "metadata_ms": round((t2 - t1) * 1000, 1),
                                  "session_ms": round((t2 - t0) * 1000, 1),
                                  "teardown_ms": round((t3 - t2) * 1000, 1)}), flush=True)
                return 0
    # What libtorrent knew when it gave up, for the benchmark's record.
    st = h.status()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        dht_nodes = ses.status().dht_nodes
    sys.exit("lt-magnet-fetch: no metadata within %gs (peers known %d, connected %d; "
             "DHT routing table %d nodes)" % (a.timeout, st.list_peers, st.num_peers, dht_nodes))


if __name__ == "__main__":
    sys.exit(main())
