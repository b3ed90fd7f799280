"""Merges the machine facts, the loader's statistics and the load client's
measurements into the result JSON, and prints a short table."""

import argparse
import json
import platform
import sqlite3
import sys
import unicodedata
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

LABELS = {
    "create": "ticket creation (POST /api/tickets/)",
    "list": "ticket list JSON (newest open)",
    "search_en": "search, English word (modem)",
    "search_zh": "search, Chinese word (宽带)",
    "search_en_in_open": "  list search box, modem (open only)",
    "search_zh_in_open": "  list search box, 宽带 (open only)",
    "view": "ticket page (staff view, HTML)",
}


def pad(text, width):
    """Left-justify counting CJK characters as two columns."""
    cols = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - cols)


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_kib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stats", required=True)
    ap.add_argument("--measure", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--started", required=True, help="ISO time the run started")
    ap.add_argument("--timings", required=True, help="JSON of phase durations in seconds")
    ap.add_argument("--config", required=True, help="JSON of the run's settings")
    args = ap.parse_args()

    stats = json.loads(Path(args.stats).read_text())
    measure = json.loads(Path(args.measure).read_text())
    versions = {p: metadata.version(p) for p in
                ("django-helpdesk", "Django", "djangorestframework", "gunicorn")}
    versions["python"] = platform.python_version()
    versions["sqlite"] = sqlite3.sqlite_version

    result = {
        "peer": "django-helpdesk",
        "date": args.started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": args.command,
        "machine": {
            "cpu_model": cpu_model(),
            "cpus": __import__("os").cpu_count(),
            "mem_total_kib": mem_total_kib(),
            "kernel": platform.release(),
            "load_average_at_end": list(__import__("os").getloadavg()),
        },
        "versions": versions,
        "config": json.loads(args.config),
        "tickets_loaded": stats["tickets"],
        "followups_loaded": stats["followups"],
        "data": {
            "seed": stats["seed"],
            "status": stats["status"],
            "priority": stats["priority"],
            "language": stats["lang"],
            "open_tickets": stats["open_tickets"],
            "loaded_tickets_matching": stats["match"],
        },
        "timings_s": json.loads(args.timings),
        **measure,
    }
    result["timings_s"]["load_tickets_inner"] = stats["load_seconds"]
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")

    ops = measure["operations"]
    print()
    print(f"django-helpdesk {versions['django-helpdesk']}, {stats['tickets']:,} tickets, "
          f"concurrency {result['config']['concurrency']}, "
          f"{result['config']['requests']} requests each, {result['machine']['cpu_model']}")
    print(f"{'operation':<40} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'req/s':>8}  errors")
    for key, label in LABELS.items():
        o = ops.get(key)
        if not o:
            continue
        print(f"{pad(label, 40)} {o['p50_ms']:>9.1f} {o['p95_ms']:>9.1f} {o['p99_ms']:>9.1f} "
              f"{o['rps']:>8.1f}  {o['errors']}")
    rss = measure["rss"]
    print(f"gunicorn peak RSS: {rss['peak_tree_kib'] / 1024:.1f} MiB for master + "
          f"{rss['workers']} workers ({rss['peak_workers_kib'] / 1024:.1f} MiB workers only; "
          f"idle {rss['idle_tree_kib'] / 1024:.1f} MiB)")
    for key in ("search_en", "search_zh"):
        c = ops[key]["check"]
        print(f"'{c['term']}' matches {c['matches']:,} of {c['of_tickets']:,} tickets "
              f"({c['share'] * 100:.1f}%)")
    probe = measure.get("api_ticket_list_probe")
    if probe:
        print(f"one GET /api/tickets/?page=1 (not used for the list): {probe}")
    t = result["timings_s"]
    print(f"load step {t.get('load', 0):.0f} s, whole run {t.get('total', 0):.0f} s")
    print(f"written to {args.out}")
    if measure.get("failures"):
        sys.exit(1)


if __name__ == "__main__":
    main()
