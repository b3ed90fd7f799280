"""Set up the benchmark site's accounts and queue, then bulk-load generated
tickets with their follow-ups.

Run with the virtualenv's python; it sets up Django itself:

    python load_tickets.py --tickets 100000 --seed 20261201 --stats-out stats.json

The same seed gives the same tickets: text, status, priority, owners and
dates are generated against a fixed calendar ending at VIRTUAL_NOW, then
moved as a whole so that the newest ticket is as recent as the load. Rows go in through the ORM's
bulk_create, in one transaction per batch; the timestamps that the models
would stamp with "now" are switched to the generated dates for the load.
"""

import argparse
import json
import os
import random
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "site"))
sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peersite.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.sites.models import Site  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from helpdesk.models import FollowUp, Queue, Ticket  # noqa: E402

import corpus  # noqa: E402

AGENTS = 8
# Generation calendar (local time of the service floor); see the docstring.
VIRTUAL_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
BATCH = 5000

OPEN, REOPENED, RESOLVED, CLOSED, DUPLICATE = 1, 2, 3, 4, 5
PRIORITY_WEIGHTS = {1: 3, 2: 12, 3: 55, 4: 20, 5: 10}


def status_for_age(rng, age_days):
    """Young tickets are mostly still open; old ones mostly closed."""
    if age_days < 3:
        choices, weights = [OPEN, REOPENED, RESOLVED], [70, 10, 20]
    elif age_days < 30:
        choices, weights = [OPEN, REOPENED, RESOLVED, CLOSED, DUPLICATE], [20, 5, 40, 33, 2]
    else:
        choices, weights = [OPEN, REOPENED, RESOLVED, CLOSED, DUPLICATE], [2, 1, 20, 74, 3]
    return rng.choices(choices, weights=weights)[0]


def created_at(rng, now):
    """A moment in the last 365 days: fewer tickets at weekends, most in the
    day and evening."""
    while True:
        day = rng.random() * 365
        t = now - timedelta(days=day)
        if t.weekday() >= 5 and rng.random() < 0.35:
            continue
        hour = rng.choices(range(24), weights=[1, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 9,
                                               8, 9, 10, 10, 9, 8, 8, 9, 9, 7, 4, 2])[0]
        t = t.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60),
                      microsecond=rng.randrange(10**6))
        if t < now:
            return t


def setup_site(admin_user, admin_password):
    User = get_user_model()
    Site.objects.update_or_create(pk=1, defaults={"domain": "127.0.0.1", "name": "peer"})
    admin, _ = User.objects.get_or_create(
        username=admin_user, defaults={"email": "admin@example.com"})
    admin.is_staff = admin.is_superuser = True
    admin.set_password(admin_password)
    admin.save()
    agents = []
    for i in range(1, AGENTS + 1):
        u, _ = User.objects.get_or_create(
            username=f"agent{i}", defaults={"email": f"agent{i}@example.com",
                                            "first_name": f"Agent{i}", "is_staff": True})
        u.set_unusable_password()
        u.save()
        agents.append(u)
    queue, _ = Queue.objects.get_or_create(
        slug="broadband", defaults={"title": "宽带客服 Broadband Support",
                                    "allow_public_submission": False,
                                    "allow_email_submission": False})
    return admin, agents, queue


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--admin-user", default="admin")
    ap.add_argument("--admin-password", default="peer-bench")
    ap.add_argument("--stats-out", required=True)
    args = ap.parse_args()

    admin, agents, queue = setup_site(args.admin_user, args.admin_password)
    if Ticket.objects.exists():
        sys.exit("load_tickets: the database already holds tickets; start from a fresh one")

    # Let bulk_create keep the generated dates instead of "now".
    for name in ("created", "modified"):
        f = Ticket._meta.get_field(name)
        f.auto_now = f.auto_now_add = False

    # Load-time only: the durability of the bulk load does not matter.
    with connection.cursor() as c:
        c.execute("PRAGMA synchronous=OFF")

    rng = random.Random(args.seed)
    now = VIRTUAL_NOW
    loaded_at = timezone.now()
    shift = loaded_at - VIRTUAL_NOW
    stats = {
        "tickets": 0, "followups": 0,
        "status": {}, "priority": {}, "lang": {},
        "match": {"宽带": 0, "modem": 0},
        "match_open": {"宽带": 0, "modem": 0},
        "open_tickets": 0,
    }
    t0 = time.monotonic()
    next_id = 1
    next_fu = 1
    while next_id <= args.tickets:
        tickets, followups = [], []
        for tid in range(next_id, min(next_id + BATCH, args.tickets + 1)):
            created = created_at(rng, now)
            age = (now - created).total_seconds() / 86400
            title, desc, lang, topic = corpus.ticket_text(rng)
            status = status_for_age(rng, age)
            priority = rng.choice(topic["priorities"]) if rng.random() < 0.6 else \
                rng.choices(list(PRIORITY_WEIGHTS), weights=list(PRIORITY_WEIGHTS.values()))[0]
            owner = rng.choice(agents) if (status != OPEN or rng.random() < 0.6) else None
            resolution = corpus.resolution_text(rng, lang) if status in (RESOLVED, CLOSED) else None

            # 3-5 follow-ups: the opening one, replies, and the closing one.
            n_fu = rng.randint(3, 5)
            t = created
            fus = [FollowUp(id=next_fu, ticket_id=tid, date=created + shift, title="Ticket Opened",
                            comment=desc, public=True, user=None)]
            next_fu += 1
            for k in range(1, n_fu):
                t = t + timedelta(minutes=rng.randint(5, 60 * 24 * (3 if age > 30 else 1)))
                if t > now:
                    t = now - timedelta(seconds=rng.randint(1, 3600))
                last = k == n_fu - 1
                if last and status in (RESOLVED, CLOSED, DUPLICATE):
                    fu_title = {RESOLVED: "Resolved", CLOSED: "Closed",
                                DUPLICATE: "Marked as duplicate"}[status]
                    comment = resolution or corpus.reply_text(rng, lang, False)
                    fus.append(FollowUp(id=next_fu, ticket_id=tid, date=t + shift, title=fu_title,
                                        comment=comment, public=True, new_status=status,
                                        user=owner or agents[0]))
                else:
                    from_customer = k % 2 == 0
                    fus.append(FollowUp(
                        id=next_fu, ticket_id=tid, date=t + shift,
                        title="Comment" if not from_customer else "Customer reply",
                        comment=corpus.reply_text(rng, lang, from_customer),
                        public=from_customer or rng.random() < 0.8,
                        user=None if from_customer else (owner or rng.choice(agents))))
                next_fu += 1
            followups.extend(fus)
            modified = max(f.date for f in fus)
            due = created + timedelta(days=rng.choice([1, 2, 3, 7])) if rng.random() < 0.3 else None
            tickets.append(Ticket(
                id=tid, title=title, queue_id=queue.id, created=created + shift, modified=modified,
                submitter_email=f"cust{rng.randrange(1, 60000)}@example.{'cn' if lang != 'en' else 'com'}",
                assigned_to=owner, status=status, on_hold=False, description=desc,
                resolution=resolution, priority=priority,
                due_date=due + shift if due else None,
                secret_key=f"{rng.getrandbits(128):032x}"))

            s = stats
            s["tickets"] += 1
            s["followups"] += len(fus)
            s["status"][status] = s["status"].get(status, 0) + 1
            s["priority"][priority] = s["priority"].get(priority, 0) + 1
            s["lang"][lang] = s["lang"].get(lang, 0) + 1
            if status in (OPEN, REOPENED):
                s["open_tickets"] += 1
            for term in s["match"]:
                # The fields django-helpdesk's keyword search looks at that
                # could hold these words (title, description, resolution).
                if corpus.matches(term, title, desc, resolution):
                    s["match"][term] += 1
                    if status in (OPEN, REOPENED):
                        s["match_open"][term] += 1
        with transaction.atomic():
            Ticket.objects.bulk_create(tickets)
            FollowUp.objects.bulk_create(followups)
        next_id += len(tickets)
        done = next_id - 1
        if done % 20000 == 0 or done == args.tickets:
            rate = done / (time.monotonic() - t0)
            print(f"  loaded {done} tickets ({rate:,.0f} tickets/s)", flush=True)

    elapsed = time.monotonic() - t0
    stats["load_seconds"] = round(elapsed, 2)
    stats["seed"] = args.seed
    stats["queue_id"] = queue.id
    stats["admin_user"] = args.admin_user
    stats["first_id"] = 1
    stats["last_id"] = args.tickets
    stats["loaded_at"] = loaded_at.isoformat()
    stats["status"] = {str(k): v for k, v in sorted(stats["status"].items())}
    stats["priority"] = {str(k): v for k, v in sorted(stats["priority"].items())}
    # Counted and checked against the database rather than trusted.
    assert Ticket.objects.count() == stats["tickets"], "ticket count mismatch"
    assert FollowUp.objects.count() == stats["followups"], "follow-up count mismatch"
    Path(args.stats_out).write_text(json.dumps(stats, ensure_ascii=False, indent=2))
    print(f"  {stats['tickets']} tickets, {stats['followups']} follow-ups in {elapsed:.1f} s; "
          f"宽带 in {stats['match']['宽带']}, modem in {stats['match']['modem']}", flush=True)


if __name__ == "__main__":
    main()
