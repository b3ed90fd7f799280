#!/usr/bin/env python3
"""Soak test: mixed agent traffic at a steady rate against a real `kefu serve`.

Starts the release binary on 127.0.0.1 with the demo floor (SQLite by
default, PostgreSQL with --database-url), then for --minutes sends the day
of a service floor at --rate requests per second: queue pages, ticket pages,
searches in Chinese and English, customer lookups and 360° views, new
tickets, replies and notes. Every answer must be a success; the server's
resident memory (VmRSS of its process) is read every ten seconds and must
stop growing: over the run's second half it may rise by at most
--max-slope MiB a minute. On SQLite each connection's page cache fills
as the database grows (about 17 minutes at 200 requests/s on the demo
floor), so a SQLite soak runs 40 minutes to judge memory after that. Writes target/bench/soak.json and exits non-zero when
an answer failed or memory kept growing.

Standard library only, so it runs wherever Python 3 does:

    cargo build --release
    python3 bench/soak/soak.py --minutes 40 --rate 200
"""

import argparse
import base64
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ADMIN = "admin@xinghe.example"
PASSWORD = "kefu-demo"
SEARCH_TERMS = ["宽带", "光猫 红灯", "modem", "发票", "router", "套餐"]


def start_server(binary, data_dir, database_url):
    args = [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--demo"]
    if database_url:
        args += ["--database-url", database_url]
    log = open(os.path.join(data_dir, "server.log"), "w")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    for line in process.stdout:
        match = re.match(r"Kefu is running at http://([^/ ]+)/", line)
        if match:
            host, port = match.group(1).rsplit(":", 1)
            # Keep draining stdout so the server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process, host, int(port)
    raise SystemExit("kefu serve exited before it reported its address; see " + log.name)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Client:
    """One keep-alive connection with the API token."""

    def __init__(self, host, port, token):
        self.host, self.port, self.token = host, port, token
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def call(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, "/api/v1" + path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            raise
        return response.status, (json.loads(raw) if raw else None)


def issue_token(host, port):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    basic = base64.b64encode(f"{ADMIN}:{PASSWORD}".encode()).decode()
    body = json.dumps({"name": "soak test", "role": "admin", "expires_in_days": 1})
    conn.request("POST", "/api/v1/api-tokens", body=body,
                 headers={"Authorization": "Basic " + basic, "Content-Type": "application/json"})
    response = conn.getresponse()
    answer = json.loads(response.read())
    if response.status != 201:
        raise SystemExit(f"no API token: {response.status} {answer}")
    return answer["token"]


class Floor:
    """What the agents know: ticket and customer ids seen so far."""

    def __init__(self, tickets, customers, phones):
        self.lock = threading.Lock()
        self.tickets, self.customers, self.phones = tickets, customers, phones

    def ticket(self, rng):
        with self.lock:
            return rng.choice(self.tickets)

    def add_ticket(self, ticket_id):
        with self.lock:
            self.tickets.append(ticket_id)


def operations(floor):
    """(weight, name, function(client, rng) -> (status, body, expected status))."""

    def queue(c, rng):
        view = rng.choice(["all", "mine", "unassigned"])
        return c.call("GET", f"/tickets?view={view}&limit=50") + (200,)

    def filtered(c, rng):
        return c.call("GET", "/tickets?view=all&limit=50&status=open,pending&priority="
                      + rng.choice(["p1", "p2", "p3", "p4"])) + (200,)

    def ticket_page(c, rng):
        return c.call("GET", f"/tickets/{floor.ticket(rng)}") + (200,)

    def search(c, rng):
        q = urllib.parse.quote(rng.choice(SEARCH_TERMS))
        return c.call("GET", f"/search?limit=20&q={q}") + (200,)

    def lookup(c, rng):
        phone = urllib.parse.quote(rng.choice(floor.phones))
        return c.call("GET", f"/customers/lookup?kind=phone&value={phone}") + (200,)

    def profile(c, rng):
        return c.call("GET", f"/customers/{rng.choice(floor.customers)}/profile") + (200,)

    def create(c, rng):
        n = rng.randrange(1_000_000)
        status, body = c.call("POST", "/tickets", {
            "subject": rng.choice(["宽带无法上网", "光猫红灯闪烁", "套餐变更咨询", "Router keeps rebooting",
                                   "Invoice request"]) + f" #{n}",
            "description": rng.choice(["客户来电称昨晚开始断网。", "The modem shows a red light since the outage."]),
            "type": rng.choice(["fault", "inquiry", "complaint", "service_request"]),
            "customer_id": rng.choice(floor.customers),
            "tags": [rng.choice(["宽带", "夜间", "VIP"])],
        })
        if status == 201:
            floor.add_ticket(body["id"])
        return status, body, 201

    def reply(c, rng):
        return c.call("POST", f"/tickets/{floor.ticket(rng)}/messages", {
            "kind": rng.choice(["reply", "note"]),
            "body": rng.choice(["您好，请重启光猫后再试。", "Engineer scheduled for tomorrow morning.",
                                "已为您登记，24小时内回电。"]),
        }) + (201,)

    return [(20, "queue page", queue), (8, "queue filtered", filtered),
            (25, "ticket page", ticket_page), (10, "search", search),
            (7, "customer lookup by phone", lookup), (10, "customer 360° view", profile),
            (10, "ticket creation", create), (10, "reply or note", reply)]


def slope_mib_per_minute(samples):
    """Least-squares slope of RSS over time, in MiB per minute."""
    if len(samples) < 2:
        return 0.0
    xs = [s["second"] / 60 for s in samples]
    ys = [s["rss_mib"] for s in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, round((len(values) - 1) * p))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default="target/release/kefu")
    parser.add_argument("--database-url", help="an empty PostgreSQL database; default: SQLite")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=200, help="requests per second, all clients together")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default="target/bench/soak.json")
    parser.add_argument("--max-slope", type=float, default=0.5,
                        help="most RSS growth over the run's second half, MiB per minute")
    options = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="kefu-soak-")
    server, host, port = start_server(options.binary, data_dir, options.database_url)
    failures, samples, stats = [], [], {}
    stats_lock = threading.Lock()
    try:
        token = issue_token(host, port)
        setup = Client(host, port, token)
        _, tickets = setup.call("GET", "/tickets?view=all&limit=200")
        _, customers = setup.call("GET", "/customers?limit=200")
        floor = Floor([t["id"] for t in tickets["items"]], [c["id"] for c in customers["items"]],
                      [c["phone"] for c in customers["items"] if c.get("phone")])
        ops = operations(floor)
        weights = [w for w, _, _ in ops]
        deadline = time.monotonic() + options.minutes * 60
        interval = options.clients / options.rate

        def agent(number):
            rng = random.Random(options.seed * 1000 + number)
            client = Client(host, port, token)
            next_at = time.monotonic() + rng.random() * interval
            while next_at < deadline:
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                _, name, op = rng.choices(ops, weights)[0]
                started = time.monotonic()
                try:
                    status, body, expected = op(client, rng)
                except Exception as error:  # a dropped connection is a failure too
                    status, body, expected = None, repr(error), "answer"
                took = (time.monotonic() - started) * 1000
                with stats_lock:
                    stats.setdefault(name, []).append(took)
                    if status != expected:
                        failures.append(f"{name}: {status} {str(body)[:300]}")
                # A steady rate: the next request is due one interval after
                # this one was due, however long this one took.
                next_at += interval

        threads = [threading.Thread(target=agent, args=(n,)) for n in range(options.clients)]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        while any(t.is_alive() for t in threads):
            samples.append({"second": round(time.monotonic() - began), "rss_mib": round(rss_kib(server.pid) / 1024, 1)})
            print(f"{samples[-1]['second']:>5} s  server RSS {samples[-1]['rss_mib']} MiB  "
                  f"requests {sum(len(v) for v in stats.values())}  failures {len(failures)}", flush=True)
            time.sleep(10)
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)

    # Flat memory: bounded caches (SQLite keeps pages per connection, up to
    # its cache_size) may fill for a while, so what must hold is that the
    # growth has stopped: over the second half of the run, RSS may rise by
    # at most --max-slope MiB a minute (a least-squares fit, so one spike
    # does not decide). A leak keeps rising to the end and fails.
    warm = [s["rss_mib"] for s in samples if s["second"] >= 120][:6] or [samples[0]["rss_mib"]]
    last = [s["rss_mib"] for s in samples[-6:]]
    growth = max(last) / max(1.0, max(warm))
    half = [s for s in samples if s["second"] >= samples[-1]["second"] / 2]
    slope = slope_mib_per_minute(half)
    total = sum(len(v) for v in stats.values())
    report = {
        "backend": "postgres" if options.database_url else "sqlite",
        "minutes": options.minutes, "target_rate": options.rate, "clients": options.clients,
        "requests": total, "achieved_rate": round(total / elapsed, 1), "failures": len(failures),
        "first_failures": failures[:20],
        "rss_warm_mib": max(warm), "rss_last_mib": max(last), "rss_growth": round(growth, 3),
        "rss_slope_second_half_mib_per_minute": round(slope, 3), "max_slope": options.max_slope,
        "operations": {name: {"requests": len(v), "p50_ms": round(percentile(v, .5), 2),
                              "p95_ms": round(percentile(v, .95), 2), "p99_ms": round(percentile(v, .99), 2)}
                       for name, v in sorted(stats.items())},
        "rss_samples": samples,
        "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
    }
    os.makedirs(os.path.dirname(options.out), exist_ok=True)
    with open(options.out, "w") as out:
        json.dump(report, out, ensure_ascii=False, indent=2)
    print(f"\n{total} requests in {elapsed:.0f} s ({report['achieved_rate']}/s), {len(failures)} failures; "
          f"RSS {report['rss_warm_mib']} MiB when warm, {report['rss_last_mib']} MiB at the end, "
          f"{slope:+.2f} MiB/min over the second half (at most {options.max_slope})")
    print("| operation | requests | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
    for name, o in report["operations"].items():
        print(f"| {name} | {o['requests']} | {o['p50_ms']} | {o['p95_ms']} | {o['p99_ms']} |")
    for failure in failures[:20]:
        print("FAILED:", failure)
    if failures or slope > options.max_slope:
        sys.exit(1)


if __name__ == "__main__":
    main()
