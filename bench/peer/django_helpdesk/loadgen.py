"""Concurrent load client for the django-helpdesk peer benchmark.

Standard library only. Each client thread logs in as the staff user through
django-helpdesk's own login form (session cookie, CSRF token for writes) and
keeps its HTTP connection open between requests; gunicorn's sync workers
answer every response with "Connection: close", so http.client reconnects
when the server has closed it.

Every response is checked, not only timed: creations must return 201 with a
new id and raise the ticket count by exactly the number created; list and
search pages must carry the row count and total the loaded data implies;
ticket pages must be the ticket asked for. Any failure makes the exit code 1
after the results are written.
"""

import argparse
import base64
import http.client
import json
import os
import random
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

PREFIX = "/helpdesk"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}]   {msg}", flush=True)


# --------------------------------------------------------------------------
# HTTP session


class Session:
    def __init__(self, host, port, timeout=120):
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        h = {"Host": "127.0.0.1", "Connection": "keep-alive"}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if headers:
            h.update(headers)
            if "X-CSRFToken" in h:
                h["X-CSRFToken"] = self.csrf
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed a kept-alive connection first; retry once
                # on a new one.
                self.conn.close()
                if attempt:
                    raise
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return resp.status, resp.getheader("Content-Type", ""), data

    def login(self, user, password):
        status, _, body = self.request("GET", f"{PREFIX}/login/")
        if status != 200:
            raise RuntimeError(f"login page answered {status}")
        m = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if not m:
            raise RuntimeError("no CSRF token on the login page")
        form = urlencode({"username": user, "password": password,
                          "csrfmiddlewaretoken": m.group(1).decode(),
                          "next": f"{PREFIX}/tickets/"})
        status, _, _ = self.request("POST", f"{PREFIX}/login/", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login failed (HTTP {status})")

    @property
    def csrf(self):
        return self.cookies.get("csrftoken", "")


# --------------------------------------------------------------------------
# The staff ticket list's JSON endpoint, as the list page's DataTable calls it


def b64query(filtering, search=""):
    q = {"filtering": filtering, "filtering_null": {}, "sorting": "created",
         "sortreverse": True, "search_string": search}
    return base64.b64encode(json.dumps(q).encode()).decode("ascii")


def datatables_path(filtering, search, length, box=""):
    """search is the keyword search of the list's filter panel (?q=, part of
    the base64 query); box is the DataTable's own search box, which narrows
    the list currently shown."""
    # order[0][column]=5 is the "created" column; newest first.
    params = {"draw": 1, "start": 0, "length": length,
              "order[0][column]": 5, "order[0][dir]": "desc"}
    if box:
        params["search[value]"] = box
    params = urlencode(params)
    return f"{PREFIX}/datatables_ticket_list/{b64query(filtering, search)}?{params}"


# --------------------------------------------------------------------------
# Resident memory of the gunicorn process tree, from /proc


def children(pid):
    try:
        out = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        return out
    except OSError:
        return []


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    def __init__(self, master_pid, interval=0.1):
        super().__init__(daemon=True)
        self.master = master_pid
        self.interval = interval
        self.stop_evt = threading.Event()
        self.lock = threading.Lock()
        self.peak_tree = self.peak_workers = 0
        self.window_tree = self.window_workers = 0

    def sample(self):
        stack, seen = [self.master], []
        while stack:
            p = stack.pop()
            seen.append(p)
            stack += children(p)
        per = {p: rss_kib(p) for p in seen}
        tree = sum(per.values())
        workers = tree - per.get(self.master, 0)
        with self.lock:
            self.peak_tree = max(self.peak_tree, tree)
            self.peak_workers = max(self.peak_workers, workers)
            self.window_tree = max(self.window_tree, tree)
            self.window_workers = max(self.window_workers, workers)
        return tree, workers, len(seen) - 1

    def take_window(self):
        self.sample()
        with self.lock:
            w = (self.window_tree, self.window_workers)
            self.window_tree = self.window_workers = 0
        return w

    def run(self):
        while not self.stop_evt.wait(self.interval):
            self.sample()


# --------------------------------------------------------------------------
# Running one operation


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def run_op(sessions, n_requests, make_request, check, warmup):
    """make_request(i) -> (method, path, body, headers); check(i, status,
    ctype, body) -> None or an error string. Runs warmup requests first
    (checked, not timed), then n_requests spread over the sessions."""
    errors = []
    lock = threading.Lock()

    def worker(sess, indices, lat):
        for i in indices:
            method, path, body, headers = make_request(i)
            t = time.perf_counter()
            try:
                status, ctype, data = sess.request(method, path, body, headers)
                err = check(i, status, ctype, data)
            except Exception as e:  # noqa: BLE001 - recorded as a failed request
                err = f"{type(e).__name__}: {e}"
            dt = time.perf_counter() - t
            if lat is not None:
                lat.append(dt)
            if err:
                with lock:
                    errors.append(err)

    def spread(start, count):
        c = len(sessions)
        return [list(range(start + k, start + count, c)) for k in range(c)]

    if warmup:
        ts = [threading.Thread(target=worker, args=(s, idx, None))
              for s, idx in zip(sessions, spread(0, warmup))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    lats = [[] for _ in sessions]
    ts = [threading.Thread(target=worker, args=(s, idx, lat))
          for s, idx, lat in zip(sessions, spread(warmup, n_requests), lats)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    all_lat = sorted(x * 1000 for lat in lats for x in lat)
    return {
        "requests": len(all_lat),
        "errors": len(errors),
        "error_samples": errors[:5],
        "wall_seconds": round(wall, 3),
        "rps": round(len(all_lat) / wall, 1) if wall else None,
        "p50_ms": round(percentile(all_lat, 50), 2),
        "p95_ms": round(percentile(all_lat, 95), 2),
        "p99_ms": round(percentile(all_lat, 99), 2),
        "mean_ms": round(sum(all_lat) / len(all_lat), 2),
        "max_ms": round(all_lat[-1], 2),
    }


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", required=True)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--page-size", type=int, default=50)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--stats", required=True, help="loader statistics (JSON)")
    ap.add_argument("--master-pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-api-list-probe", action="store_true")
    args = ap.parse_args()

    u = urlsplit(args.url)
    if u.hostname not in ("127.0.0.1", "localhost"):
        sys.exit("loadgen: only loopback targets are allowed")
    stats = json.loads(Path(args.stats).read_text())
    n_loaded = stats["tickets"]
    rng = random.Random(args.seed ^ 0x5EED)
    warmup = 2 * args.concurrency

    sampler = RssSampler(args.master_pid)
    idle_tree, idle_workers, n_workers = sampler.sample()
    sampler.start()

    sessions = []
    for _ in range(args.concurrency):
        s = Session(u.hostname, u.port)
        s.login(args.user, args.password)
        sessions.append(s)
    probe = sessions[0]

    def count_tickets():
        status, _, body = probe.request("GET", datatables_path({}, "", 1))
        if status != 200:
            raise RuntimeError(f"count: HTTP {status}")
        return json.loads(body)["recordsTotal"]

    ops = {}
    failures = []
    sampler.take_window()

    # (a) creation through the REST API ----------------------------------
    created_ids = []
    created_terms = {"宽带": 0, "modem": 0}
    id_lock = threading.Lock()
    payloads = {}

    def make_create(i):
        title, desc, _lang, topic = corpus.ticket_text(random.Random(args.seed * 1000003 + i))
        payloads[i] = (title, desc)
        body = json.dumps({
            "queue": stats["queue_id"], "title": title, "description": desc,
            "submitter_email": f"walkin{i}@example.com",
            "priority": topic["priorities"][0],
        })
        return "POST", f"{PREFIX}/api/tickets/", body, {
            "Content-Type": "application/json", "Accept": "application/json",
            "X-CSRFToken": None}  # each session fills in its own token

    def check_create(i, status, ctype, data):
        if status != 201:
            return f"create: HTTP {status} {data[:200]!r}"
        tid = json.loads(data).get("id")
        if not isinstance(tid, int):
            return "create: no id in response"
        title, desc = payloads[i]
        with id_lock:
            created_ids.append(tid)
            for term in created_terms:
                if corpus.matches(term, title, desc):
                    created_terms[term] += 1
        return None

    log("create ...")
    before = count_tickets()
    ops["create"] = run_op(sessions, args.requests, make_create, check_create, warmup)
    after = count_tickets()
    n_created = len(created_ids)
    create_check = {
        "count_before": before, "count_after": after, "accepted_201": n_created,
        "distinct_ids": len(set(created_ids)), "attempted": args.requests + warmup,
    }
    ops["create"]["check"] = create_check
    if not (after - before == n_created == len(set(created_ids)) == args.requests + warmup):
        failures.append(f"creation: {create_check}")
    ops["create"]["peak_rss_tree_kib"], ops["create"]["peak_rss_workers_kib"] = sampler.take_window()

    # (b) staff ticket list JSON: newest open tickets ----------------------
    log("list ...")
    open_expected = stats["open_tickets"] + n_created  # new tickets are Open
    list_path = datatables_path({"status__in": [1, 2]}, "", args.page_size)

    def make_list(i):
        return "GET", list_path, None, None

    def check_page(expected_total, label):
        want_rows = min(args.page_size, expected_total)

        def check(i, status, ctype, data):
            if status != 200 or "json" not in ctype:
                return f"{label}: HTTP {status} {ctype}"
            d = json.loads(data)
            if d["recordsFiltered"] != expected_total:
                return f"{label}: {d['recordsFiltered']} matches, expected {expected_total}"
            if len(d["data"]) != want_rows:
                return f"{label}: {len(d['data'])} rows, expected {want_rows}"
            return None
        return check

    ops["list"] = run_op(sessions, args.requests, make_list,
                         check_page(open_expected, "list"), warmup)
    ops["list"]["check"] = {"open_tickets": open_expected, "rows_per_page": args.page_size}
    ops["list"]["peak_rss_tree_kib"], ops["list"]["peak_rss_workers_kib"] = sampler.take_window()

    # (c, d) keyword search through the same endpoint ---------------------
    for key, term in (("search_en", "modem"), ("search_zh", "宽带")):
        log(f"{key} ...")
        expected = stats["match"][term] + created_terms[term]
        path = datatables_path({}, term, args.page_size)
        ops[key] = run_op(sessions, args.requests, lambda i, p=path: ("GET", p, None, None),
                          check_page(expected, key), warmup)
        total = n_loaded + n_created
        ops[key]["check"] = {"term": term, "matches": expected, "of_tickets": total,
                             "share": round(expected / total, 4)}
        ops[key]["peak_rss_tree_kib"], ops[key]["peak_rss_workers_kib"] = sampler.take_window()

    # Supplementary: the same words typed into the ticket list's own search
    # box, which narrows the default list (open tickets) instead of
    # searching every ticket.
    for key, term in (("search_en_in_open", "modem"), ("search_zh_in_open", "宽带")):
        log(f"{key} ...")
        expected = stats["match_open"][term] + created_terms[term]
        path = datatables_path({"status__in": [1, 2]}, "", args.page_size, box=term)
        ops[key] = run_op(sessions, args.requests, lambda i, p=path: ("GET", p, None, None),
                          check_page(expected, key), warmup)
        ops[key]["check"] = {"term": term, "matches": expected, "of_open_tickets": open_expected}
        ops[key]["peak_rss_tree_kib"], ops[key]["peak_rss_workers_kib"] = sampler.take_window()

    # (e) one ticket's staff page (HTML) ----------------------------------
    log("view ...")
    view_ids = [rng.randint(stats["first_id"], stats["last_id"])
                for _ in range(args.requests + warmup)]

    def make_view(i):
        return "GET", f"{PREFIX}/tickets/{view_ids[i]}/", None, None

    def check_view(i, status, ctype, data):
        if status != 200 or "html" not in ctype:
            return f"view: HTTP {status} {ctype}"
        if f"/helpdesk/tickets/{view_ids[i]}/update/".encode() not in data:
            return f"view: page for ticket {view_ids[i]} lacks its update form"
        return None

    ops["view"] = run_op(sessions, args.requests, make_view, check_view, warmup)
    ops["view"]["check"] = {"distinct_tickets": len(set(view_ids)),
                            "bytes_example": None}
    st, _, body = probe.request("GET", f"{PREFIX}/tickets/{view_ids[0]}/")
    ops["view"]["check"]["bytes_example"] = len(body)
    ops["view"]["peak_rss_tree_kib"], ops["view"]["peak_rss_workers_kib"] = sampler.take_window()

    for name, op in ops.items():
        if op["errors"]:
            failures.append(f"{name}: {op['errors']} failed requests, e.g. {op['error_samples'][:2]}")

    # Peaks cover the five measured operations only.
    sampler.stop_evt.set()
    sampler.join()
    peak_tree, peak_workers = sampler.peak_tree, sampler.peak_workers

    # Informational, after the measurements and outside the memory peaks:
    # one request to the REST API's own ticket list, which could not stand
    # in for (b) (see README).
    api_probe = None
    if not args.skip_api_list_probe:
        probe.conn.timeout = 600
        t = time.perf_counter()
        try:
            st, _, body = probe.request("GET", f"{PREFIX}/api/tickets/?page=1")
            api_probe = {"status": st, "ms": round((time.perf_counter() - t) * 1000, 1),
                         "rows": len(json.loads(body).get("results", [])) if st == 200 else None}
        except Exception as e:  # noqa: BLE001
            api_probe = {"error": f"{type(e).__name__}: {e}",
                         "ms": round((time.perf_counter() - t) * 1000, 1)}
        api_probe["rss_tree_kib_after"] = sampler.sample()[0]

    result = {
        "operations": ops,
        "rss": {
            "workers": n_workers,
            "idle_tree_kib": idle_tree, "idle_workers_kib": idle_workers,
            "peak_tree_kib": peak_tree, "peak_workers_kib": peak_workers,
            "sampled_every_s": sampler.interval,
        },
        "tickets_created_during_run": n_created,
        "api_ticket_list_probe": api_probe,
        "failures": failures,
    }
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=2))
    if failures:
        for f in failures:
            print(f"CHECK FAILED: {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
