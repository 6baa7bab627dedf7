#!/usr/bin/python3
"""Seed one torrent with libtorrent (python3-libtorrent) on loopback only.

usage: peer-libtorrent.py --torrent FILE --save-path DIR --port N
                          [--listen-ip 127.0.0.1] [--pex] [--multi-per-ip] [--tracker URL]
                          [--ignore-stdin] [--check-timeout S] [--verbose]
                          [--set KEY=VALUE]...

DHT, LSD, UPnP and NAT-PMP are off; trackers, web seeds and DHT nodes are
stripped from the torrent (--tracker adds one back: it must be on loopback); outgoing connections are bound to the listen IP and
an IP filter blocks every peer address outside 127.0.0.0/8 and ::1.
Note: the torrent flag disable_pex is set (unless --pex), yet libtorrent 2.0.8
still lists ut_pex 1 in its extended handshake.
Prints "ready" on stdout once the torrent has been checked and is seeding, then
runs until SIGTERM/SIGINT or (unless --ignore-stdin) EOF on stdin.
Log lines go to stderr. Exit codes: 0 clean stop, 1 error, 3 could not listen
on the port (caller may retry with another), 4 content incomplete.
Must run under /usr/bin/python3 (Debian's python, where libtorrent imports).
"""
import argparse
import ipaddress
import os
import signal
import sys
import threading
import time

import libtorrent as lt

STOP = threading.Event()


def log(msg):
    sys.stderr.write("%.3f peer-libtorrent: %s\n" % (time.time(), msg))
    sys.stderr.flush()


def load_stripped(path):
    """Load a .torrent with announce/announce-list/url-list/httpseeds/nodes removed."""
    with open(path, "rb") as f:
        data = f.read()
    d = lt.bdecode(data)
    if not isinstance(d, dict) or b"info" not in d:
        raise ValueError("%s: not a torrent file" % path)
    for k in (b"announce", b"announce-list", b"url-list", b"httpseeds", b"nodes"):
        d.pop(k, None)
    ti = lt.torrent_info(d)
    if list(ti.trackers()):
        raise ValueError("trackers still present after stripping")
    return ti


def interesting_categories():
    c = lt.alert.category_t
    return (c.error_notification | c.peer_notification | c.status_notification
            | c.connect_notification | c.storage_notification)


def report_peers(h, seen):
    """Print each peer's pieces, as libtorrent's get_peer_info() has them,
    when they change; and when a peer goes away."""
    now = {}
    for p in h.get_peer_info():
        addr = "%s:%d" % (p.ip[0], p.ip[1])
        bits = "".join("1" if b else "0" for b in p.pieces)
        now[addr] = bits
        if seen.get(addr) != bits:
            sys.stdout.write("peer %s %s pieces=%s\n" % (addr, p.client.decode("utf-8", "replace")
                                                          if isinstance(p.client, bytes) else p.client, bits))
            sys.stdout.flush()
    for addr in set(seen) - set(now):
        sys.stdout.write("peer %s gone\n" % addr)
        sys.stdout.flush()
    seen.clear()
    seen.update(now)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save-path", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--listen-ip", default="127.0.0.1")
    ap.add_argument("--pex", action="store_true", help="keep ut_pex on (default off)")
    ap.add_argument("--multi-per-ip", action="store_true",
                    help="allow_multiple_connections_per_ip=True (libtorrent default False)")
    ap.add_argument("--ignore-stdin", action="store_true",
                    help="do not stop on stdin EOF (for use in the background)")
    ap.add_argument("--check-timeout", type=float, default=120.0)
    ap.add_argument("--tracker", action="append", default=[],
                    help="announce to this tracker URL (repeatable; loopback trackers only)")
    ap.add_argument("--verbose", action="store_true", help="also log peer_log alerts")
    ap.add_argument("--report-peers", action="store_true",
                    help="once seeding, print 'peer ADDR CLIENT pieces=0101..' on stdout"
                         " each time a connected peer's pieces (as libtorrent sees them) change")
    ap.add_argument("--encryption", choices=("enabled", "forced", "disabled"), default="enabled",
                    help="libtorrent's in/out_enc_policy (MSE/PE); forced also allows only RC4")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a libtorrent setting (settings_pack name), e.g. connections_limit=2000;"
                         " integers and true/false are converted")
    a = ap.parse_args()

    if not ipaddress.ip_address(a.listen_ip).is_loopback:
        log("refusing non-loopback listen ip %s" % a.listen_ip)
        return 1
    if not 1 <= a.port <= 65535:
        log("bad port %d" % a.port)
        return 1

    try:
        ti = load_stripped(a.torrent)
    except Exception as e:
        log("cannot load torrent: %s" % e)
        return 1

    host = "[%s]" % a.listen_ip if ":" in a.listen_ip else a.listen_ip
    mask = interesting_categories()
    if a.verbose:
        mask |= lt.alert.category_t.peer_log_notification
    settings = {
        "listen_interfaces": "%s:%d" % (host, a.port),
        "outgoing_interfaces": a.listen_ip,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "max_retry_port_bind": 0,  # fail on a taken port instead of trying N+1
        "dht_bootstrap_nodes": "",
        "announce_to_all_trackers": bool(a.tracker),
        # A tracker on loopback is what the discovery tests run; libtorrent
        # 2.0 refuses some localhost announce URLs without this.
        "ssrf_mitigation": False,
        "allow_multiple_connections_per_ip": bool(a.multi_per_ip),
        "alert_mask": int(mask),
    }
    policy = {"forced": 0, "enabled": 1, "disabled": 2}[a.encryption]
    settings["in_enc_policy"] = policy
    settings["out_enc_policy"] = policy
    if a.encryption == "forced":
        settings["allowed_enc_level"] = 2  # pe_rc4
    for kv in a.set:
        k, sep, v = kv.partition("=")
        if not sep or k in ("listen_interfaces", "outgoing_interfaces"):
            log("bad or refused --set %r" % kv)
            return 1
        if v in ("true", "false"):
            v = v == "true"
        else:
            try:
                v = int(v)
            except ValueError:
                pass
        settings[k] = v
    ses = lt.session(settings)
    # Belt and braces: peers outside loopback are blocked both ways.
    ipf = lt.ip_filter()
    ipf.add_rule("0.0.0.0", "255.255.255.255", 1)
    ipf.add_rule("127.0.0.0", "127.255.255.255", 0)
    ipf.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1)
    ipf.add_rule("::1", "::1", 0)
    ses.set_ip_filter(ipf)

    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    if not a.ignore_stdin:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except Exception:
                pass
            log("stdin EOF, stopping")
            STOP.set()
        threading.Thread(target=watch_stdin, daemon=True).start()

    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = a.save_path
    atp.trackers = list(a.tracker)
    atp.url_seeds = []
    atp.dht_nodes = []
    tf = lt.torrent_flags
    atp.flags = tf.disable_dht | tf.disable_lsd | tf.override_trackers | tf.override_web_seeds
    if not a.pex:
        atp.flags |= tf.disable_pex
    h = ses.add_torrent(atp)
    log("added %s (v1 info hash %s, %d pieces, metadata %d bytes) save_path=%s"
        % (ti.name(), str(ti.info_hashes().v1), ti.num_pieces(), len(ti.info_section()),
           a.save_path))

    ready = False
    seen = {}  # peer address -> last reported pieces string
    listening = False
    listen_failed = False
    start = time.monotonic()
    rc = 0
    while not STOP.is_set():
        ses.wait_for_alert(20 if (ready and a.report_peers) else 100)
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_failed_alert):
                log("ALERT %s: %s" % (type(al).__name__, al.message()))
                if al.socket_type == lt.socket_type_t.tcp:
                    listen_failed = True
            elif isinstance(al, lt.listen_succeeded_alert):
                log("ALERT %s: %s" % (type(al).__name__, al.message()))
                if al.socket_type == lt.socket_type_t.tcp:
                    listening = True
            elif isinstance(al, (lt.stats_alert, lt.state_update_alert)):
                continue
            else:
                log("ALERT %s: %s" % (type(al).__name__, al.message()))
        if listen_failed and not listening:
            log("could not listen on %s:%d" % (a.listen_ip, a.port))
            rc = 3
            break
        if not ready:
            st = h.status()
            S = lt.torrent_status.states
            if st.errc.value() != 0:
                log("torrent error: %s" % st.errc.message())
                rc = 1
                break
            if listening and ses.listen_port() != a.port:
                log("listening on port %d, not %d" % (ses.listen_port(), a.port))
                rc = 3
                break
            if listening and st.state == S.seeding:
                ready = True
                log("seeding after %.2fs; listening on %s:%d"
                    % (time.monotonic() - start, a.listen_ip, ses.listen_port()))
                sys.stdout.write("ready\n")
                sys.stdout.flush()
            elif st.state in (S.downloading, S.finished) and not st.is_seeding:
                log("content incomplete after check: progress %.4f (%s)"
                    % (st.progress, st.state))
                rc = 4
                break
            elif time.monotonic() - start > a.check_timeout:
                log("not seeding after %.0fs (state %s)" % (a.check_timeout, st.state))
                rc = 1
                break
        elif a.report_peers:
            report_peers(h, seen)
    log("stopping (rc %d)" % rc)
    ses.remove_torrent(h)
    ses.pause()
    return rc


if __name__ == "__main__":
    sys.exit(main())
