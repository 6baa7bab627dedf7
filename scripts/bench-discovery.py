#!/usr/bin/python3
"""Time a bare-magnet metadata fetch through the DHT alone and through a
tracker alone: btext, libtorrent and aria2c side by side, on loopback.

usage: bench-discovery.py --btext BIN [--runs N | --quick] [--nodes N] [--silence K]
                          [--timeout S] [--out DIR] [--clients LIST]
                          [--scenarios LIST]

Driven by scripts/bench-discovery.sh (which installs the counterparts and
builds btext first). Scenarios:

  start the floor: each program started with no work to do (btext --version,
        /usr/bin/python3 -c "import libtorrent", aria2c --version).
  dht   a fresh scripts/dht-net.py network of --nodes libtorrent nodes, --silence
        of them silent after the routing tables formed, one seeding and
        announcing a torrent; the client gets a bare magnet and node 0 as its
        only DHT bootstrap node, no tracker. A fresh network for every single
        fetch: clients that join the DHT as full nodes (libtorrent, aria2c)
        leave their address in the routing tables, and a later fetch would
        meet more dead nodes than the 15 silenced ones.
  udp   opentracker on 127.0.0.1 and a libtorrent seeder announcing to it; the
  http  magnet carries only that tracker (udp:// or http://), DHT off.

Each fetch is one process timed from spawn to exit (wall clock) with its
peak RSS from wait4's ru_maxrss; its .torrent is checked against the info
hash with libtorrent. Runs are interleaved (btext, libtorrent, aria2c, btext,
...) so load on the machine hits all clients alike. Prints the table of
medians, min and max and writes DIR/discovery.json (every run) and
DIR/discovery.md (the table). Every process started is stopped on exit,
SIGINT or SIGTERM. Only loopback addresses. Run with /usr/bin/python3.
"""
import argparse
import json
import os
import platform
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import libtorrent as lt

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
# Each fetcher that needs an address of its own gets one: libtorrent's DHT
# does not run on 0.0.0.0 or lo, and distinct addresses keep the clients
# apart in the DHT nodes' tables and the tracker's peer list.
LT_IP = "127.200.0.1"
ARIA2_IP = "127.201.0.1"

CHILDREN = []  # Popen objects still to stop


class Stop(Exception):
    pass


def on_signal(*_):
    raise Stop()


def log(msg):
    sys.stderr.write("bench-discovery: %s\n" % msg)
    sys.stderr.flush()


def stop_child(p, grace=15):
    """Stop a child: a process group of its own (a client, a start script)
    gets SIGTERM, then SIGKILL; dht-net.py gets its stdin closed first (it
    stops on EOF), then SIGTERM, then SIGKILL."""
    if p.poll() is not None:
        return
    if getattr(p, "group", False):
        steps = ((signal.SIGTERM, 10), (signal.SIGKILL, 5))
    else:
        try:
            if p.stdin:
                p.stdin.close()
        except OSError:
            pass
        steps = ((None, grace), (signal.SIGTERM, 5), (signal.SIGKILL, 5))
    for sig, wait in steps:
        if sig is not None:
            try:
                if getattr(p, "group", False):
                    os.killpg(p.pid, sig)
                else:
                    p.send_signal(sig)
            except OSError:
                pass
        try:
            p.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_group(cmd, timeout):
    """subprocess.run in a process group of its own, registered so that an
    interruption stops the script and whatever it started with SIGTERM (its
    traps run) rather than orphaning it."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    p.group = True
    CHILDREN.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_child(p)
        out, err = p.communicate()
    CHILDREN.remove(p)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def stop_all():
    while CHILDREN:
        stop_child(CHILDREN.pop())


def free_port(ip):
    """A port free for TCP and UDP on ip."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        ok = True
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind((ip, port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    raise SystemExit("bench-discovery: no free port on %s" % ip)


def measure(cmd, timeout, env=None, cwd=None):
    """Run cmd to its end (killed after timeout s): wall ms, peak RSS KiB,
    exit status, stdout, stderr.

    The peak RSS comes from GNU time, not from this process's own wait4:
    Linux folds the memory a process had before exec into its ru_maxrss, and
    a child forked from this Python (libtorrent loaded) would start at its
    size. GNU time is a small process to fork from."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    fd, rssf = tempfile.mkstemp(prefix="bench-rss.")
    os.close(fd)
    t0 = time.monotonic()
    # start_new_session: the timeout kills time and the client together.
    p = subprocess.Popen(["/usr/bin/time", "-q", "-f", "%M", "-o", rssf] + cmd, stdin=subprocess.DEVNULL,
                         stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
    p.group = True
    CHILDREN.append(p)
    # A blocking wait, with a timer for the deadline: Popen.wait(timeout)
    # polls with growing sleeps and would round the time up to 16, 32,
    # 64 ms.
    killed = []

    def kill():
        killed.append(True)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        p.wait()
    finally:
        timer.cancel()
    wall = (time.monotonic() - t0) * 1000
    timed_out = bool(killed)
    CHILDREN.remove(p)
    out.seek(0)
    err.seek(0)
    try:
        rss = int(open(rssf).read().split()[-1])
    except (OSError, ValueError, IndexError):
        rss = 0
    os.remove(rssf)
    return {"wall_ms": round(wall, 1), "rss_kib": rss, "exit": p.returncode,
            "timed_out": timed_out, "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace")}


def v1_of(path):
    try:
        return str(lt.torrent_info(path).info_hashes().v1)
    except Exception as e:  # a missing or broken file is a failed run
        return "unreadable: %s" % e


# ------------------------------------------------------------------ sources

def start_dht_net(nodes, silence, work):
    """A fresh dht-net.py network: (Popen, ready dict). Retries a busy port."""
    for attempt in range(3):
        logf = open(os.path.join(work, "dht-net.log"), "ab")
        p = subprocess.Popen([PY, os.path.join(HERE, "dht-net.py"), "--nodes", str(nodes),
                              "--silence", str(silence), "--work", work],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf)
        logf.close()
        CHILDREN.append(p)
        deadline = time.monotonic() + 120
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            r, _, _ = select.select([p.stdout], [], [], 1)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                line += chunk
        if line.endswith(b"\n"):
            return p, json.loads(line)
        stop_child(p)
        CHILDREN.remove(p)
        if p.returncode != 3:
            break
        log("dht-net.py: a port was busy, retrying")
    raise SystemExit("bench-discovery: dht-net.py not ready (see %s/dht-net.log)" % work)


def start_tracker_swarm(work, btext):
    """opentracker and a libtorrent seeder announcing to it over UDP and HTTP:
    (info hash, {"udp": url, "http": url}, seeder addr)."""
    out = subprocess.run([PY, os.path.join(HERE, "make-test-torrent.py"), work, "--name", "bench-tracker",
                          "--single", "--size", str(256 * 1024)],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    torrent, ih, parent = out[0], out[1], out[2]
    tw = os.path.join(work, "tracker")
    # start-tracker.sh leaves opentracker running (setsid) with its pid in
    # tw/pid, written as soon as it starts: stop_trackers reads it.
    TRACKER_DIRS.append(tw)
    urls = run_group([os.path.join(HERE, "start-tracker.sh"), "opentracker", tw, ih], 120)
    if urls.returncode != 0:
        raise SystemExit("bench-discovery: start-tracker.sh: %s" % urls.stderr.strip())
    by = {}
    for u in urls.stdout.split():
        by.setdefault(u.split(":", 1)[0], u)
    pw = os.path.join(work, "seeder")
    SEEDER_DIRS.append(pw)
    seed = run_group([os.path.join(HERE, "start-peer.sh"), "libtorrent", torrent, parent, pw, "--",
                      "--tracker", by["udp"], "--tracker", by["http"], "--multi-per-ip"], 120)
    if seed.returncode != 0:
        raise SystemExit("bench-discovery: start-peer.sh: %s" % seed.stderr.strip()[-500:])
    addr = seed.stdout.strip()
    # Ready when the tracker hands out the seeder: a real announce, bounded.
    deadline = time.monotonic() + 60
    while True:
        r = run_group([btext, "tracker", "announce", by["http"], ih, "--json", "--timeout", "5s"], 30)
        if r.returncode == 0 and addr in json.loads(r.stdout).get("peers", []):
            break
        if time.monotonic() > deadline:
            raise SystemExit("bench-discovery: %s never listed the seeder %s" % (by["http"], addr))
        time.sleep(0.2)
    return ih, by, addr


TRACKER_DIRS = []
SEEDER_DIRS = []


def stop_trackers():
    for d in SEEDER_DIRS:
        if os.path.isdir(d):
            subprocess.run([os.path.join(HERE, "stop-peer.sh"), d], capture_output=True, timeout=60)
    del SEEDER_DIRS[:]
    for d in TRACKER_DIRS:
        try:
            pid = int(open(os.path.join(d, "pid")).read().strip())
        except (OSError, ValueError):
            continue
        # Only our opentracker: the pid could have been reused.
        try:
            cmdline = open("/proc/%d/cmdline" % pid, "rb").read()
        except OSError:
            continue
        if b"opentracker" in cmdline and d.encode() in cmdline:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
    del TRACKER_DIRS[:]


# ------------------------------------------------------------------ clients

def run_btext(a, work, magnet, ih, scenario, node):
    out = os.path.join(work, "btext.torrent")
    rss = os.path.join(work, "btext.rss")
    cmd = [a.btext, "fetch-metadata", magnet, "-o", out, "--force", "--json", "--timeout", "%ds" % a.timeout]
    if scenario == "dht":
        cmd += ["--dht-bootstrap", node, "--no-trackers"]
    else:
        cmd += ["--no-dht"]
    env = dict(os.environ, BTEXT_PEAK_RSS_FILE=rss)
    for f in (out, rss):
        if os.path.exists(f):
            os.remove(f)
    r = measure(cmd, a.timeout + 10, env=env)
    try:
        rep = json.loads(r["stdout"])
        d = rep.get("discovery") or {}
        r["elapsed_ms"] = rep.get("elapsed_ms")
        r["first_peer_ms"] = d.get("first_peer_ms")
        if d.get("dht"):
            r["dht"] = {k: d["dht"].get(k) for k in ("queries", "responses", "timeouts", "nodes", "peers")}
    except ValueError:
        pass
    try:
        r["self_rss_kib"] = int(open(rss).read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    r["ok"] = r["exit"] == 0 and v1_of(out) == ih
    return r


def run_libtorrent(a, work, magnet, ih, scenario, node):
    out = os.path.join(work, "lt.torrent")
    if os.path.exists(out):
        os.remove(out)
    cmd = [PY, os.path.join(HERE, "lt-magnet-fetch.py"), magnet, "--listen",
           "%s:%d" % (LT_IP, free_port(LT_IP)), "--out", out, "--timeout", str(a.timeout)]
    if scenario == "dht":
        cmd += ["--dht-bootstrap", node]
    r = measure(cmd, a.timeout + 10)
    try:
        rep = json.loads(r["stdout"])
        for k in ("metadata_ms", "session_ms", "teardown_ms"):
            r[k] = rep[k]
    except (ValueError, KeyError):
        pass
    r["ok"] = r["exit"] == 0 and v1_of(out) == ih
    return r


def run_aria2(a, work, magnet, ih, scenario, node):
    d = os.path.join(work, "aria2")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cmd = ["aria2c", "--no-conf=true", "--enable-rpc=false", "--dir=" + d,
           "--bt-metadata-only=true", "--bt-save-metadata=true", "--seed-time=0",
           "--interface=" + ARIA2_IP, "--disable-ipv6=true", "--listen-port=%d" % free_port(ARIA2_IP),
           # The UDP port serves the DHT and UDP trackers both.
           "--dht-listen-port=%d" % free_port(ARIA2_IP),
           "--dht-file-path=" + os.path.join(d, "dht.dat"), "--enable-dht6=false",
           "--bt-enable-lpd=false", "--enable-peer-exchange=false",
           "--summary-interval=0", "--console-log-level=warn", "--show-console-readout=false",
           "--save-session=", "--bt-stop-timeout=%d" % a.timeout]
    if scenario == "dht":
        cmd += ["--enable-dht=true", "--dht-entry-point=" + node]
    elif scenario == "udp":
        # aria2 sends UDP tracker packets from its DHT socket and skips udp://
        # trackers with the DHT off: on, but with no entry point and an empty
        # routing table it has no node to ask (aria2 has no default bootstrap).
        cmd += ["--enable-dht=true"]
    else:
        cmd += ["--enable-dht=false"]
    cmd.append(magnet)
    r = measure(cmd, a.timeout + 10)
    r["ok"] = r["exit"] == 0 and v1_of(os.path.join(d, ih + ".torrent")) == ih
    return r


CLIENTS = {"btext": run_btext, "libtorrent": run_libtorrent, "aria2c": run_aria2}

# What a process costs before it does any work, measured the same way: the
# floor under every whole-process figure.
START_ONLY = {"btext": lambda a: [a.btext, "--version"],
              "libtorrent": lambda a: [PY, "-c", "import libtorrent"],
              "aria2c": lambda a: ["aria2c", "--version"]}


# ------------------------------------------------------------------ report

def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        return None
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def summarize(runs):
    """Median over every run, a failed run counting as infinitely slow; min
    and max over the runs that succeeded."""
    ok = [r for r in runs if r["ok"]]
    walls = [r["wall_ms"] if r["ok"] else float("inf") for r in runs]
    s = {"runs": len(runs), "ok": len(ok), "median_ms": median(walls),
         "min_ms": min((r["wall_ms"] for r in ok), default=None),
         "max_ms": max((r["wall_ms"] for r in ok), default=None),
         "rss_median_kib": median([r["rss_kib"] for r in runs]),
         "rss_max_kib": max((r["rss_kib"] for r in runs), default=None)}
    for k in ("first_peer_ms", "elapsed_ms", "metadata_ms", "session_ms", "teardown_ms", "self_rss_kib"):
        v = [r[k] for r in ok if r.get(k) is not None]
        if v:
            s[k + "_median"] = median(v)
    if s["median_ms"] == float("inf"):
        s["median_ms"] = None
    return s


def fmt_ms(v):
    if v is None:
        return "fail"
    return "%.0f ms" % v if v >= 10 else "%.1f ms" % v


def table(results, targets):
    rows = ["| scenario | client | median | min | max | ok | peak RSS median (max) | inside the process |",
            "|---|---|---|---|---|---|---|---|"]
    for sc, by in results.items():
        for client, s in by.items():
            inner = []
            if "first_peer_ms_median" in s:
                inner.append("first peer %s" % fmt_ms(s["first_peer_ms_median"]))
            if "elapsed_ms_median" in s:
                inner.append("elapsed %s" % fmt_ms(s["elapsed_ms_median"]))
            if "metadata_ms_median" in s:
                inner.append("magnet added to metadata %s" % fmt_ms(s["metadata_ms_median"]))
            if "session_ms_median" in s:
                inner.append("script start to metadata %s, teardown %s" % (
                    fmt_ms(s["session_ms_median"]), fmt_ms(s.get("teardown_ms_median"))))
            rss = "%.1f MiB (%.1f)" % (s["rss_median_kib"] / 1024, s["rss_max_kib"] / 1024) if s["rss_max_kib"] else "-"
            rows.append("| %s | %s | %s | %s | %s | %d/%d | %s | %s |" % (
                sc, client, fmt_ms(s["median_ms"]), fmt_ms(s["min_ms"]), fmt_ms(s["max_ms"]),
                s["ok"], s["runs"], rss, ", ".join(inner) or "-"))
    lines = ["", "btext's targets (issue 10):"]
    for sc, limit in targets.items():
        s = results.get(sc, {}).get("btext")
        if s:
            m = s["median_ms"]
            lines.append("- %s: median %s, target <= %d ms: %s" % (
                sc, fmt_ms(m), limit, "met" if m is not None and m <= limit else "MISSED"))
    if any("btext" in by for by in results.values()):
        mx = max(by["btext"]["rss_max_kib"] for by in results.values() if "btext" in by)
        lines.append("- peak RSS: max %.1f MiB over every btext run, target < 64 MiB: %s" % (
            mx / 1024, "met" if mx < 64 * 1024 else "MISSED"))
    return "\n".join(rows + lines)


def versions(btext):
    v = {"libtorrent": lt.__version__}
    for name, cmd in (("btext", [btext, "--version"]), ("aria2c", ["aria2c", "--version"])):
        try:
            v[name] = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            v[name] = "?"
    try:
        v["btext_commit"] = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                                           capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--btext", required=True)
    ap.add_argument("--runs", type=int, help="fetches per client and scenario (default 7, --quick 3)")
    ap.add_argument("--quick", action="store_true", help="3 runs each (scripts/bench.sh --quick)")
    ap.add_argument("--nodes", type=int, default=40)
    ap.add_argument("--silence", type=int, default=15)
    ap.add_argument("--timeout", type=int, default=60, help="seconds per fetch")
    ap.add_argument("--out", default="bench")
    ap.add_argument("--clients", default="btext,libtorrent,aria2c")
    ap.add_argument("--scenarios", default="start,dht,udp,http")
    a = ap.parse_args()
    a.btext = os.path.abspath(a.btext)
    if a.runs is None:
        a.runs = 3 if a.quick else 7
    clients = [c for c in a.clients.split(",") if c]
    scenarios = [s for s in a.scenarios.split(",") if s]
    for c in clients:
        if c not in CLIENTS:
            raise SystemExit("bench-discovery: unknown client %s" % c)
    for s in scenarios:
        if s not in ("start", "dht", "udp", "http"):
            raise SystemExit("bench-discovery: unknown scenario %s" % s)
    if not 1 <= a.runs <= 100:
        raise SystemExit("bench-discovery: --runs must be 1..100")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    work = tempfile.mkdtemp(prefix="bench-discovery.")
    started = time.time()
    load_before = os.getloadavg()
    raw = {}
    try:
        if "start" in scenarios:
            raw["start"] = {c: [] for c in clients}
            for i in range(a.runs):
                for c in clients:
                    r = measure(START_ONLY[c](a), 30)
                    r["ok"] = r["exit"] == 0
                    raw["start"][c].append(r)
        if "dht" in scenarios:
            raw["dht"] = {c: [] for c in clients}
            for i in range(a.runs):
                for c in clients:
                    nw = os.path.join(work, "net-%d-%s" % (i, c))
                    os.makedirs(nw)
                    net, ready = start_dht_net(a.nodes, a.silence, nw)
                    try:
                        ih = ready["info_hash"]
                        r = CLIENTS[c](a, nw, "magnet:?xt=urn:btih:" + ih, ih, "dht", ready["nodes"][0])
                    finally:
                        stop_child(net)
                        CHILDREN.remove(net)
                    r["net_ready_ms"] = ready["ready_ms"]
                    raw["dht"][c].append(r)
                    log("dht %d/%d %s: %s %.0f ms, %d KiB%s" % (
                        i + 1, a.runs, c, "ok" if r["ok"] else "FAILED (exit %d)" % r["exit"],
                        r["wall_ms"], r["rss_kib"], "" if r["ok"] else ": " + r["stderr"].strip()[-300:]))
        trk = [s for s in scenarios if s in ("udp", "http")]
        if trk:
            tw = os.path.join(work, "trackers")
            os.makedirs(tw)
            ih, urls, seeder = start_tracker_swarm(tw, a.btext)
            log("opentracker %s, seeder %s, %s" % (" ".join(urls.values()), seeder, ih))
            for s in trk:
                raw[s] = {c: [] for c in clients}
                magnet = "magnet:?xt=urn:btih:%s&tr=%s" % (ih, urllib.parse.quote(urls[s], safe=""))
                for i in range(a.runs):
                    for c in clients:
                        cw = os.path.join(tw, "%s-%d-%s" % (s, i, c))
                        os.makedirs(cw)
                        r = CLIENTS[c](a, cw, magnet, ih, s, None)
                        raw[s][c].append(r)
                        log("%s %d/%d %s: %s %.0f ms, %d KiB%s" % (
                            s, i + 1, a.runs, c, "ok" if r["ok"] else "FAILED (exit %d)" % r["exit"],
                            r["wall_ms"], r["rss_kib"], "" if r["ok"] else ": " + r["stderr"].strip()[-300:]))
    except Stop:
        log("interrupted")
        return 130
    finally:
        # Cleanup runs to its end: a second Ctrl-C must not orphan a tracker.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_all()
        stop_trackers()
        shutil.rmtree(work, ignore_errors=True)

    results = {s: {c: summarize(rs) for c, rs in by.items()} for s, by in raw.items()}
    targets = {"dht": 1000, "udp": 100, "http": 100}
    names = {"start": "process start only (btext --version, import libtorrent, aria2c --version)",
             "dht": "DHT alone (%d nodes, %d silent)" % (a.nodes, a.silence),
             "udp": "UDP tracker alone", "http": "HTTP tracker alone"}
    named = {names[s]: v for s, v in results.items()}
    text = table(named, {names[s]: t for s, t in targets.items() if s in results})
    load_after = os.getloadavg()
    meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_s": round(time.time() - started), "runs": a.runs,
            "nodes": a.nodes, "silence": a.silence, "timeout_s": a.timeout,
            "loadavg_before": load_before, "loadavg_after": load_after,
            "cpus": os.cpu_count(), "kernel": platform.release(), "versions": versions(a.btext)}
    for by in raw.values():
        for rs in by.values():
            for r in rs:
                r.pop("stdout", None)
                if r["ok"]:
                    r.pop("stderr", None)
                else:
                    r["stderr"] = r["stderr"][-1000:]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "discovery.json"), "w") as f:
        json.dump({"meta": meta, "summary": results, "runs": raw}, f, indent=1)
        f.write("\n")
    head = ("Bare-magnet metadata fetch, whole process (spawn to exit), %d runs each, %s, "
            "load average %.2f before, %.2f after (1 min), %d CPUs; %s; libtorrent %s; %s.\n\n" % (
                a.runs, meta["date"], load_before[0], load_after[0], meta["cpus"],
                "btext " + meta["versions"].get("btext_commit", "?"), meta["versions"]["libtorrent"], meta["versions"]["aria2c"]))
    with open(os.path.join(a.out, "discovery.md"), "w") as f:
        f.write("# bench-discovery: results of the last run\n\n" + head + text + "\n")
    print(head + text)
    missed = [s for s, t in targets.items() if s in results and "btext" in results[s]
              and (results[s]["btext"]["median_ms"] is None or results[s]["btext"]["median_ms"] > t)]
    if missed:
        log("btext missed its target in: %s" % ", ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
