#!/usr/bin/env python3
"""Soak guv's servers under sustained mixed traffic and watch for growth.

Starts the example servers (hello_server, json_echo, websocket_chat,
echo_server) and the soak server (tests/src/bin/soak_server.rs) over TCP,
TLS and a Unix socket, all at once on 127.0.0.1, then runs CYCLES cycles
of LOAD seconds of mixed traffic followed by REST seconds with no client
at all. Every SAMPLE seconds it records each server's RSS
(/proc/PID/status VmRSS), open fds (/proc/PID/fd) and threads, and for the
soak servers the hub counters of both workers (their /stats route). At the
end it prints, per server and cycle: the baseline before the first cycle,
the peak under load and the level at the end of the rest; it flags fds or
hub counters not back at their baseline after a rest, after-rest RSS
that rose in every cycle, and servers that died. The samples go to
OUT/NAME.csv.

The load, all at once, per server (see `Load` below): wrk with keep-alive
and wrk 16-deep pipelined; Connection: close churn; clients that hang up
(FIN or RST) mid-head, mid-body and mid-response; malformed heads that
must get 400/414/431/501/505; slowloris clients (the soak servers' 1 s
header timeout cuts them; the examples' 60 s one outlasts them and they
leave after 8 s); 2 MiB chunked bodies the app reads only 4 KiB of (or none
of, for hello_server; json_echo answers 413); app panics (500) on the soak
servers; WebSocket clients (Python `websockets`) that join the chat, talk
and vanish without a close; for echo_server many short connections, half
of them reset, some before reading the echo.

Usage (from the repository root, after building the release binaries):
    cargo build --release -p guv-examples --bins
    cargo build --release -p guv-tests --bin soak_server
    python3 benches/soak/soak.py [--cycles 3] [--load 180] [--rest 60]
        [--only hello,json_echo,chat,echo,soak_tcp,soak_tls,soak_unix]
        [--bin DIR] [--out DIR]
DIR defaults to $CARGO_TARGET_DIR/release (or target/release). Needs wrk and
`websockets` (bash .ci/install-deps). Not in CI: it takes minutes.
"""

import argparse
import csv
import json
import logging
import os
import random
import re
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# The websockets client's reader thread logs the sockets this script
# yanks away on purpose.
logging.getLogger("websockets").setLevel(logging.CRITICAL)

TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


# ---------------------------------------------------------------- servers


class Server:
    """One server process and how to reach it."""

    def __init__(self, name, argv, env, transport, flavor, out):
        self.name, self.transport, self.flavor = name, transport, flavor
        self.log = open(os.path.join(out, name + ".log"), "wb")
        full_env = dict(os.environ, RUST_BACKTRACE="0", **env)
        self.proc = subprocess.Popen(argv, env=full_env, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line:
            raise RuntimeError(f"{name} did not start (see {self.log.name})")
        # "NAME listening on [http://]ADDR[/] ...": the first word with a
        # port or a path.
        words = [w.split("://")[-1].rstrip("/") for w in line.split()]
        self.addr = next(w for w in words if re.fullmatch(r"[0-9.]+:[0-9]+|/\S+", w))
        # Drain stdout so the server never blocks on it.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def connect(self, timeout=10.0, tls=True):
        if self.transport == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(self.addr)
            return s
        host, port = self.addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=timeout)
        if self.transport == "tls" and tls:
            s = TLS.wrap_socket(s, server_hostname="127.0.0.1")
        return s

    def url(self, path="/"):
        scheme = "https" if self.transport == "tls" else "http"
        return f"{scheme}://{self.addr}{path}"

    def stop(self):
        """SIGTERM, then SIGKILL after 15 s; returns how it ended."""
        how = f"had died (exit {self.proc.returncode})" if self.proc.poll() is not None else None
        if how is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                how = f"SIGTERM -> exit {self.proc.wait(timeout=15)}"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                how = "SIGTERM ignored for 15 s: killed"
        self.log.close()
        self.ended = how
        return how


def start_servers(bin_dir, only, out, tmp):
    port = 28400
    specs = {
        "hello": lambda p: ([f"{bin_dir}/hello_server"], {"GUV_HELLO_ADDR": f"127.0.0.1:{p}", "GUV_HELLO_WORKERS": "2"}, "tcp", "hello"),
        "json_echo": lambda p: ([f"{bin_dir}/json_echo"], {"GUV_JSON_ADDR": f"127.0.0.1:{p}"}, "tcp", "json"),
        "chat": lambda p: ([f"{bin_dir}/websocket_chat"], {"GUV_CHAT_ADDR": f"127.0.0.1:{p}"}, "tcp", "chat"),
        "echo": lambda p: ([f"{bin_dir}/echo_server", f"127.0.0.1:{p}"], {}, "tcp", "echo"),
        "soak_tcp": lambda p: ([f"{bin_dir}/soak_server", "tcp", "127.0.0.1:0"], {}, "tcp", "soak"),
        "soak_tls": lambda p: ([f"{bin_dir}/soak_server", "tls", "127.0.0.1:0"], {}, "tls", "soak"),
        "soak_unix": lambda p: ([f"{bin_dir}/soak_server", "unix", os.path.join(tmp, "soak.sock")], {}, "unix", "soak"),
    }
    servers = []
    for i, name in enumerate(only):
        argv, env, transport, flavor = specs[name](port + i)
        servers.append(Server(name, argv, env, transport, flavor, out))
    return servers


# ---------------------------------------------------------------- sampling


def proc_sample(pid):
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    rss = int(status["VmRSS"].split()[0])
    threads = int(status["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


STACK = 256 * 1024  # guv's default greenlet stack (DEFAULT_STACK_SIZE)


def rss_parts(pid):
    """Resident kB by kind: greenlet stacks (anonymous rw mappings of
    exactly the stack size; "stacks" counts them: live and pooled), the
    heap (the brk heap and the other
    anonymous rw mappings: glibc's thread arenas, large blocks), files."""
    parts = {"stacks_kb": 0, "stacks": 0, "heap_kb": 0, "file_kb": 0}
    key = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 5)
            if "-" in first[0] and len(first) >= 5 and not first[0].endswith(":"):
                lo, hi = (int(x, 16) for x in first[0].split("-"))
                name = first[5].strip() if len(first) > 5 else ""
                if name.startswith("/"):
                    key = "file_kb"
                elif name in ("", "[heap]") and first[1].startswith("rw"):
                    key = "stacks_kb" if hi - lo == STACK and not name else "heap_kb"
                    parts["stacks"] += key == "stacks_kb"
                else:
                    key = None
            elif line.startswith("Rss:") and key:
                parts[key] += int(line.split()[1])
    return parts


def http_get(server, path, timeout=5.0):
    s = server.connect(timeout)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode())
        return read_all(s)
    finally:
        s.close()


def hub_stats(server):
    """Each worker's /stats, by thread name (new connections until both
    workers answered, at most 24 tries: on the Unix socket, which worker
    takes a connection is up to the kernel, and one may be missed). Each
    count includes the /stats connection itself."""
    seen = {}
    for _ in range(24):
        try:
            raw = http_get(server, "/stats")
            body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
            seen[body["thread"]] = body
        except (OSError, ValueError, IndexError):
            continue
        if len(seen) == 2:
            break
    return seen


def listen_overflows():
    """The kernel's count of connections dropped from full accept queues
    (TcpExt ListenOverflows; system-wide)."""
    with open("/proc/net/netstat") as f:
        lines = [line.split() for line in f if line.startswith("TcpExt:")]
    return int(dict(zip(lines[0], lines[1])).get("ListenOverflows", 0))


# ---------------------------------------------------------------- clients


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.errors = {}

    def first_error(self, kind, e):
        with self.lock:
            self.errors.setdefault(kind, repr(e)[:200])

    def add(self, key, n=1):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + n


def read_all(s, limit=1 << 24):
    chunks, total = [], 0
    while total < limit:
        try:
            b = s.recv(65536)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            break
        if not b:
            break
        chunks.append(b)
        total += len(b)
    return b"".join(chunks)


def reset(s):
    """Close with RST (no FIN) where the transport has one."""
    try:
        if s.family != socket.AF_UNIX:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def hang_up(s, rng):
    if rng.random() < 0.5:
        reset(s)
    else:
        s.close()


def status_of(raw):
    try:
        return int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
]


class Load:
    """The mixed load on one server until `deadline`."""

    def __init__(self, server, deadline, counts, seed):
        self.s, self.deadline, self.counts = server, deadline, counts
        self.rng = random.Random(seed)
        self.big_path = "/big" if server.flavor == "soak" else "/"
        self.body_path = "/partial" if server.flavor == "soak" else "/"

    def running(self):
        return time.monotonic() < self.deadline

    def loop(self, kind, fn, pause=0.0):
        rng = random.Random(self.rng.random())
        while self.running():
            try:
                fn(rng)
                self.counts.add(kind + ".ok")
            except Exception as e:  # noqa: BLE001 - counted, and the client goes on
                self.counts.add(f"{kind}.{type(e).__name__}")
                self.counts.first_error(kind, e)
            if pause:
                time.sleep(pause)

    # --- HTTP

    def churn(self, rng):
        raw = http_get(self.s, "/")
        if status_of(raw) not in (200, 405):
            raise ValueError(f"churn status {status_of(raw)}")

    def cut_head(self, rng):
        c = self.s.connect()
        c.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Cut: "[: rng.randrange(1, 36)])
        hang_up(c, rng)

    def cut_body(self, rng):
        c = self.s.connect()
        c.sendall(f"POST {self.body_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode())
        c.sendall(b"x" * rng.randrange(1, 8000))
        hang_up(c, rng)

    def cut_response(self, rng):
        c = self.s.connect()
        if self.s.flavor == "soak":
            path = rng.choice(["/big", "/stream", "/slow"])
            c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        else:
            method = "POST" if self.s.flavor == "json" else "GET"
            one = f"{method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode()
            c.sendall(one * 200)
        c.recv(rng.randrange(1, 4096))
        hang_up(c, rng)

    def malformed(self, rng):
        req, want = rng.choice(MALFORMED)
        c = self.s.connect()
        try:
            c.sendall(req)
            got = status_of(read_all(c))
        finally:
            c.close()
        self.counts.add(f"malformed.{want}->{got}")

    def slowloris(self, rng):
        c = self.s.connect()
        c.settimeout(1.0)
        c.sendall(b"GET / HTTP/1.1\r\n")
        end = time.monotonic() + 8
        try:
            while time.monotonic() < end and self.running():
                time.sleep(0.3)
                c.sendall(b"X-Slow: 1\r\n")
                try:
                    if c.recv(1) == b"":
                        self.counts.add("slowloris.cut_by_server")
                        return
                except (socket.timeout, ssl.SSLError):
                    pass
        except OSError:
            self.counts.add("slowloris.cut_by_server")
            return
        finally:
            hang_up(c, rng)
        self.counts.add("slowloris.gave_up" if self.running() else "slowloris.load_ended")

    def chunked_big(self, rng):
        c = self.s.connect()
        c.sendall(f"POST {self.body_path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"4000\r\n" + b"c" * 0x4000 + b"\r\n"
        try:
            for _ in range(128):  # 2 MiB
                c.sendall(chunk)
            c.sendall(b"0\r\n\r\n")
        except OSError:
            self.counts.add("chunked_big.server_closed_early")
        try:
            self.counts.add(f"chunked_big.status{status_of(c.recv(4096))}")
        finally:
            hang_up(c, rng)

    def panic(self, rng):
        raw = http_get(self.s, "/panic")
        if status_of(raw) != 500:
            raise ValueError(f"panic status {status_of(raw)}")

    def websocket(self, rng):
        from websockets.sync.client import connect

        path = "/ws" if self.s.flavor == "soak" else "/chat"
        began = time.monotonic()
        sock = self.s.connect(tls=False)  # websockets does the TLS itself
        scheme = "wss" if self.s.transport == "tls" else "ws"
        try:
            ws = self.ws_open(connect, f"{scheme}://soak{path}", sock)
        except Exception as e:
            # How long after the TCP connect: a soak server's header
            # timeout (1 s) also bounds the TLS handshake and the upgrade.
            e.args = (f"{e} ({time.monotonic() - began:.2f} s after connect)",)
            raise
        with ws:
            try:
                for i in range(rng.randrange(1, 8)):
                    ws.send(f"hello {i}")
                    ws.recv(timeout=10)
            finally:
                if rng.random() < 0.8:
                    # Vanish without a close frame (the context's close
                    # then finds the socket gone).
                    hang_up(ws.socket, rng)

    def ws_open(self, connect, uri, sock):
        return connect(
            uri,
            sock=sock,
            ssl=TLS if self.s.transport == "tls" else None,
            server_hostname="127.0.0.1" if self.s.transport == "tls" else None,
            proxy=None,
            compression=None,
            open_timeout=10,
            close_timeout=1,
        )

    # --- echo_server

    def echo_short(self, rng):
        c = self.s.connect()
        data = os.urandom(rng.randrange(1, 16384))
        c.sendall(data)
        what = rng.random()
        if what < 0.2:
            reset(c)  # the echo is still unread
            return
        got = b""
        while len(got) < len(data):
            b = c.recv(65536)
            if not b:
                raise ValueError("echo cut short")
            got += b
        if got != data:
            raise ValueError("echo differs")
        hang_up(c, rng)

    def echo_idle(self, rng):
        c = self.s.connect()
        time.sleep(rng.uniform(0.5, 3))
        hang_up(c, rng)

    def threads(self):
        f = self.s.flavor
        plan = []
        if f == "echo":
            plan += [("echo_short", self.echo_short, 0)] * 4 + [("echo_idle", self.echo_idle, 0)] * 4
        else:
            plan += [("churn", self.churn, 0)] * 2
            plan += [("cut_head", self.cut_head, 0), ("cut_body", self.cut_body, 0)]
            plan += [("cut_response", self.cut_response, 0), ("malformed", self.malformed, 0)]
            plan += [("slowloris", self.slowloris, 0)] * 4
            plan += [("chunked_big", self.chunked_big, 0.05)]
            if f == "soak":
                plan += [("panic", self.panic, 0.1)]
            if f in ("soak", "chat"):
                plan += [("websocket", self.websocket, 0)] * 3
        return [threading.Thread(target=self.loop, args=p, daemon=True) for p in plan]


def wrk_procs(server, seconds, out):
    if server.transport == "unix" or server.flavor == "echo":
        return []
    script = os.path.join(HERE, "wrk.lua")
    extra = ["POST", '{"soak": [1, 2, 3]}'] if server.flavor == "json" else []
    runs = [("keepalive", "16", ["1"] + extra), ("pipelined", "8", ["16"] + extra)]
    procs = []
    for label, conns, args in runs:
        argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s", "-s", script, server.url(), "--"] + args
        log = open(os.path.join(out, f"{server.name}.wrk-{label}.txt"), "ab")
        procs.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), log))
    return procs


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--load", type=float, default=180)
    ap.add_argument("--rest", type=float, default=60)
    ap.add_argument("--sample", type=float, default=3)
    ap.add_argument("--only", default="hello,json_echo,chat,echo,soak_tcp,soak_tls,soak_unix")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--bin", default=os.path.join(target, "release"))
    ap.add_argument("--out", default="/tmp/guv-soak")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    servers = start_servers(a.bin, a.only.split(","), a.out, a.out)
    rows = {s.name: [] for s in servers}
    phase = {"cycle": 0, "state": "baseline"}
    stop = threading.Event()
    t0 = time.monotonic()

    def sample_once():
        for s in servers:
            if s.proc.poll() is not None:
                rows[s.name].append({"t": round(time.monotonic() - t0, 1), **phase, "dead": s.proc.returncode})
                continue
            rss, fds, threads = proc_sample(s.proc.pid)
            row = {"t": round(time.monotonic() - t0, 1), **phase, "rss_kb": rss, "fds": fds, "threads": threads}
            row.update(rss_parts(s.proc.pid))
            if s.flavor == "soak":
                hubs = hub_stats(s)
                for name, st in hubs.items():
                    # Worker 0 runs on "main", the other on "guv-wsgi-1".
                    w = "w0" if name == "main" else "w" + name.rsplit("-", 1)[-1]
                    row[f"{w}_live"] = st["live_greenlets"]
                    row[f"{w}_io"] = st["io_waiters"]
                    row[f"{w}_room"] = st["room"]
                    row[f"{w}_fds"] = st["registered_fds"]
                    row[f"{w}_timers"] = st["timers"]
                row["access_lines"] = max([st["access_lines"] for st in hubs.values()] or [0])
            rows[s.name].append(row)

    def sampler():
        while not stop.wait(a.sample):
            sample_once()

    counts = {s.name: Counts() for s in servers}
    overflows = listen_overflows()
    try:
        time.sleep(1)
        sample_once()
        threading.Thread(target=sampler, daemon=True).start()
        for cycle in range(1, a.cycles + 1):
            phase.update(cycle=cycle, state="load")
            deadline = time.monotonic() + a.load
            print(f"cycle {cycle}: load {a.load:.0f}s", flush=True)
            workers, wrks = [], []
            for i, s in enumerate(servers):
                workers += Load(s, deadline, counts[s.name], seed=cycle * 100 + i).threads()
                wrks += wrk_procs(s, int(a.load), a.out)
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            for p, log in wrks:
                p.wait()
                log.close()
            phase.update(state="rest")
            print(f"cycle {cycle}: rest {a.rest:.0f}s", flush=True)
            time.sleep(a.rest)
            sample_once()
    finally:
        stop.set()
        for s in servers:
            s.stop()
    for s in servers:
        keys = sorted({k for r in rows[s.name] for k in r})
        with open(os.path.join(a.out, s.name + ".csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows[s.name])
    report(servers, rows, counts, a, listen_overflows() - overflows)


def report(servers, rows, counts, a, overflows):
    print(f"\n== soak: {a.cycles} cycles of {a.load:.0f}s load + {a.rest:.0f}s rest; samples every {a.sample:.0f}s")
    print(f"accept-queue overflows during the run (system-wide TcpExt ListenOverflows): {overflows}")
    for s in servers:
        rs = rows[s.name]
        dead = [r for r in rs if "dead" in r]
        base = rs[0]
        print(f"\n{s.name} (pid {s.proc.pid}){'  DIED: exit ' + str(dead[0]['dead']) if dead else ''}; stop: {s.ended}")
        print(
            f"  baseline: rss {base.get('rss_kb')} kB, fds {base.get('fds')}, threads {base.get('threads')}"
            f" (stacks {base.get('stacks_kb')}, heap {base.get('heap_kb')}, files {base.get('file_kb')})" + live_str(base)
        )
        for c in range(1, a.cycles + 1):
            load = [r for r in rs if r["cycle"] == c and r["state"] == "load" and "rss_kb" in r]
            rest = [r for r in rs if r["cycle"] == c and r["state"] == "rest" and "rss_kb" in r]
            if not load or not rest:
                continue
            end = rest[-1]
            print(
                f"  cycle {c}: load rss median {statistics.median(r['rss_kb'] for r in load):.0f} kB"
                f" peak {max(r['rss_kb'] for r in load)} kB, fds median {statistics.median(r['fds'] for r in load):.0f}"
                f" peak {max(r['fds'] for r in load)}; after rest rss {end['rss_kb']} kB, fds {end['fds']},"
                f" threads {end['threads']} ({end['stacks']} stacks {end['stacks_kb']}, heap {end['heap_kb']}, files {end['file_kb']})"
                + live_str(end)
            )
        print("  " + verdict(base, [r for r in rs if r["state"] == "rest" and "rss_kb" in r], a.cycles))
        c = counts[s.name].c
        print("  clients: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
        for kind, e in sorted(counts[s.name].errors.items()):
            print(f"  first {kind} error: {e}")


def verdict(base, rests, cycles):
    """What to look at: fds or hub counters not back at their baseline at
    the end of a rest, and after-rest RSS that rose in every cycle."""
    ends = [[r for r in rests if r["cycle"] == c][-1] for c in range(1, cycles + 1) if any(r["cycle"] == c for r in rests)]
    flags = []
    for end in ends:
        left = [k for k in end if k == "fds" or re.fullmatch(r"w[0-9]_(live|io|room|fds|timers)", k)]
        left = [f"{k} {base.get(k)} -> {end[k]}" for k in left if k in base and end[k] != base[k]]
        if left:
            flags.append(f"cycle {end['cycle']} left over: " + ", ".join(left))
    rss = [end["rss_kb"] for end in ends]
    if len(rss) >= 3 and all(b > a for a, b in zip(rss, rss[1:])):
        flags.append("after-rest RSS rose in every cycle: " + " -> ".join(map(str, rss)) + " kB (a step per new peak, or a leak?)")
    return "CHECK: " + "; ".join(flags) if flags else "ok: fds and counters back at baseline, RSS did not rise every cycle"


def live_str(r):
    parts = [f"{k} {r[k]}" for k in sorted(r) if re.fullmatch(r"w[0-9]_(live|io|room|fds|timers)", k)]
    return ("; " + ", ".join(parts)) if parts else ""


if __name__ == "__main__":
    main()
