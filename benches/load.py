#!/usr/bin/env python3
"""Drives a running engagement-tracker for the benchmarks (standard library only).

  load.py events  BASE --target N --have M   pipeline steps until ~N timeline events
  load.py ids     BASE --out DIR             sample ids for wrk's scripts (engagements, hospitals)
  load.py import  BASE --rows 2000 --round R time one import of a fresh CSV list (seconds)
  load.py assign  BASE --count 5000          time one bulk assignment (seconds)
  load.py mail    BASE --engagements N       queue first-contact mail for imported engagements
  load.py sink    --port P --stats FILE      an SMTP server on loopback that accepts everything
  load.py wrkstat FILE                       "req/s p50_ms p99_ms errors" of one wrk --latency run
  load.py sqltime DB QUERY                   median ms of an SQLite query (21 runs)
  load.py report  DIR                        the Markdown table of DIR/requests.tsv, DIR/extra.tsv

BASE is the server's address, e.g. http://127.0.0.1:8080. The account is BENCH_EMAIL /
BENCH_PASSWORD (the defaults match benches/run).
"""

import argparse
import asyncio
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
import uuid

EMAIL = os.environ.get("BENCH_EMAIL", "bench@example.com")
PASSWORD = os.environ.get("BENCH_PASSWORD", "bench-password-0123")


class Api:
    """One keep-alive connection (one per thread)."""

    def __init__(self, base, token=None):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        self.token = token

    def call(self, method, path, body=None, headers=None, raw=None):
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=data, headers=h)
                res = self.conn.getresponse()
                payload = res.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
                if attempt == 2:
                    raise
        text = payload.decode("utf-8", "replace")
        try:
            return res.status, json.loads(text) if text else None
        except ValueError:
            return res.status, text


def login(base):
    status, body = Api(base).call(
        "POST", "/api/v1/auth/token", {"email": EMAIL, "password": PASSWORD}
    )
    if status != 200:
        sys.exit(f"cannot sign in as {EMAIL}: {status} {body}")
    return body["access_token"]


def all_ids(api, path, limit=200, keep=lambda item: True):
    """Every item id of a paged list (follows next_cursor), of the items `keep` accepts."""
    ids, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        q = f"{path}{sep}limit={limit}" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        status, body = api.call("GET", q)
        if status != 200:
            sys.exit(f"GET {q}: {status} {body}")
        ids += [i["id"] for i in body["items"] if keep(i)]
        cursor = body.get("next_cursor")
        if not cursor or not body["items"]:
            return ids


def parallel(n_threads, work, base, token):
    """Runs work(api, i) for the indexes handed out, on n_threads keep-alive connections."""
    lock, counter, errors = threading.Lock(), [0], []

    def run():
        api = Api(base, token)
        while True:
            with lock:
                i = counter[0]
                counter[0] += 1
            if not work(api, i):
                return

    threads = [threading.Thread(target=run) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def cmd_events(a):
    token = login(a.base)
    api = Api(a.base, token)
    # Completed or paused engagements refuse steps (409): only the others take them.
    engagements = all_ids(api, "/api/v1/engagements",
                          keep=lambda e: e.get("stage") != "completed" and not e.get("side_state"))
    need = max(0, a.target - a.have)
    print(f"{len(engagements)} engagements, {a.have} events; adding ~{need}", file=sys.stderr)
    rng = random.Random(7)
    order = [rng.choice(engagements) for _ in range(need)]
    refused = [0]
    started = time.time()

    def work(api, i):
        if i >= len(order):
            return False
        status, body = api.call(
            "POST",
            f"/api/v1/engagements/{order[i]}/contact-attempts",
            {"channel": rng.choice(["phone", "email", "letter"]), "outcome": "no_answer"},
        )
        if status >= 500:
            sys.exit(f"contact attempt: {status} {body}")
        if status != 200:
            refused[0] += 1  # completed or on hold: a 409, no event
        if i and i % 10000 == 0:
            print(f"  {i} steps, {i / (time.time() - started):.0f}/s", file=sys.stderr)
        return True

    parallel(a.threads, work, a.base, token)
    print(f"added {need - refused[0]} steps ({refused[0]} refused) in {time.time() - started:.0f} s",
          file=sys.stderr)


def cmd_ids(a):
    token = login(a.base)
    api = Api(a.base, token)
    os.makedirs(a.out, exist_ok=True)
    status, body = api.call("GET", f"/api/v1/engagements?limit={a.count}")
    engagements = [i["id"] for i in body["items"]]
    hospitals = [i["hospital"]["id"] for i in body["items"]]
    if not engagements or not hospitals:
        sys.exit(f"no ids: {status} {body}")
    for name, ids in (("engagements", engagements), ("hospitals", hospitals)):
        with open(os.path.join(a.out, name), "w") as f:
            f.write("\n".join(ids) + "\n")
    with open(os.path.join(a.out, "token"), "w") as f:
        f.write(token)


def selection_csv(rows, district=95, encoding="utf-8"):
    """A selection list like the prefectures send: Tokyo, fresh valid institution codes."""
    def luhn(nine):
        s = 0
        for i, c in enumerate(reversed(nine)):
            d = int(c)
            if i % 2 == 0:
                d *= 2
                d = d - 9 if d > 9 else d
            s += d
        return (10 - s % 10) % 10

    header = ("順位,都道府県,医療機関コード,病院名,所在地,病床数,電子カルテ導入状況,"
              "担当者1氏名,担当者1所属,担当者1役職,担当者1電話,担当者1メール,備考")
    lines = [header]
    for n in range(rows):
        nine = f"131{district + n // 9000:02d}{n % 9000:04d}"
        lines.append(
            f"{n + 1},東京都,{nine}{luhn(nine)},ベンチ架空病院{district}-{n},東京都架空区{n}番地,"
            f"{50 + n % 400},導入済,担当 {n},情報システム課,係長,03-5555-{n % 10000:04d},"
            f"it{n}@bench-{district}.example,"
        )
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def multipart(fields, filename, content):
    boundary = uuid.uuid4().hex
    out = b""
    for k, v in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").encode()
    out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def cmd_import(a):
    token = login(a.base)
    api = Api(a.base, token)
    body, ctype = multipart({"round": a.round}, "list.csv", selection_csv(a.rows, a.district))
    started = time.time()
    status, report = api.call("POST", "/api/v1/imports?partial=true", raw=body,
                              headers={"Content-Type": ctype})
    took = time.time() - started
    if status != 200:
        sys.exit(f"import: {status} {report}")
    print(f"{took:.3f}")
    print(f"import: {report.get('created')} created, {report.get('rejected')} rejected "
          f"in {took:.3f} s", file=sys.stderr)


def cmd_assign(a):
    token = login(a.base)
    api = Api(a.base, token)
    engagements = all_ids(api, "/api/v1/engagements")[: a.count]
    status, orgs = api.call("GET", "/api/v1/organizations?limit=200")
    subs = [o["id"] for o in orgs["items"] if o.get("kind") == "subcontractor"]
    if not subs:
        sys.exit(f"no subcontractor to assign to: {orgs}")
    started = time.time()
    status, body = api.call("POST", "/api/v1/engagements/assign",
                            {"organization_id": subs[-1], "ids": engagements})
    took = time.time() - started
    if status != 200:
        sys.exit(f"assign: {status} {body}")
    print(f"{took:.3f}")
    print(f"assign: {body} for {len(engagements)} in {took:.3f} s", file=sys.stderr)


def cmd_mail(a):
    token = login(a.base)
    api = Api(a.base, token)
    ids = all_ids(api, "/api/v1/engagements?prefecture=13&q=" + urllib.parse.quote("ベンチ架空病院"))
    ids = ids[: a.engagements]
    queued = [0]
    lock = threading.Lock()

    def work(api, i):
        if i >= len(ids):
            return False
        status, body = api.call("POST", f"/api/v1/engagements/{ids[i]}/emails",
                                {"kind": "first_contact"})
        if status != 202:
            sys.exit(f"queue mail: {status} {body}")
        with lock:
            queued[0] += len(body["queued"])
        return True

    parallel(4, work, a.base, token)
    print(queued[0])


async def smtp_session(reader, writer, stats):
    w = writer.write
    w(b"220 sink ESMTP\r\n")
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                w(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                w(b"354 go on\r\n")
                await writer.drain()
                await reader.readuntil(b"\r\n.\r\n")
                stats["n"] += 1
                now = time.time()
                stats["first"] = stats["first"] or now
                stats["last"] = now
                w(b"250 ok\r\n")
            elif verb == b"QUIT":
                w(b"221 bye\r\n")
                break
            else:
                w(b"250 ok\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def sink(a):
    stats = {"n": 0, "first": None, "last": None}
    server = await asyncio.start_server(
        lambda r, w: smtp_session(r, w, stats), "127.0.0.1", a.port, limit=1 << 24)
    while True:
        await asyncio.sleep(0.2)
        with open(a.stats + ".tmp", "w") as f:
            json.dump(stats, f)
        os.replace(a.stats + ".tmp", a.stats)


def wrk_numbers(path):
    """req/s, p50 and p99 in ms, and non-2xx/3xx plus socket errors, from wrk --latency."""
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
    rps, p50, p99, errors = 0.0, None, None, 0
    for line in open(path, encoding="utf-8", errors="replace"):
        f = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(f[1])
        elif len(f) == 2 and f[0] in ("50%", "99%"):
            num = f[1].rstrip("usmh")
            ms = float(num) * unit[f[1][len(num):]]
            if f[0] == "50%":
                p50 = ms
            else:
                p99 = ms
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            errors += int(f[-1])
        elif line.strip().startswith("Socket errors:"):
            errors += sum(int(x.rstrip(",")) for x in f[1:] if x.rstrip(",").isdigit())
    return rps, p50, p99, errors


def cmd_wrkstat(a):
    rps, p50, p99, errors = wrk_numbers(a.file)
    print(f"{rps:.1f} {p50 if p50 is not None else 'nan'} {p99 if p99 is not None else 'nan'} {errors}")


def cmd_sqltime(a):
    """Median ms of a query over 21 runs, through the sqlite3 library."""
    import sqlite3
    db = sqlite3.connect(a.db)
    times = []
    for _ in range(21):
        t = time.perf_counter()
        db.execute(a.query).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    print(f"{median(times):.2f}")


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def cmd_report(a):
    """requests.tsv: backend, label, side (app|bare), rep, req/s, p50, p99, errors.
    extra.tsv: backend, key, value."""
    rows, order, backends = {}, [], []
    for line in open(os.path.join(a.dir, "requests.tsv")):
        backend, label, side, rep, rps, p50, p99, errors = line.rstrip("\n").split("\t")
        if backend not in backends:
            backends.append(backend)
        if label not in order:
            order.append(label)
        r = rows.setdefault((backend, label), {"app": [], "bare": [], "bare_label": ""})
        if side == "app":
            r["app"].append((float(rps), float(p50), float(p99), int(errors)))
        else:
            r["bare"].append((float(rps), float(p50), float(p99), int(errors)))
            r["bare_label"] = (side.split("=", 1)[1] if "=" in side else "").replace("%s", "{id}")
    extra = {}
    path = os.path.join(a.dir, "extra.tsv")
    if os.path.exists(path):
        for line in open(path):
            backend, key, value = line.rstrip("\n").split("\t")
            extra[(backend, key)] = value
    out = ["| request | backend | req/s | p50 ms | p99 ms | bare req/s | ratio to bare | errors (app / bare) |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for label in order:
        for backend in backends:
            r = rows.get((backend, label))
            if not r or not r["app"]:
                continue
            # Ratios per interleaved pair, then their median: the pairs ran side by side.
            pairs = list(zip(r["app"], r["bare"]))
            ratio = median([x[0] / y[0] for x, y in pairs if y[0] > 0]) if pairs else float("nan")
            app = r["app"]
            out.append(
                f"| {label} | {backend} | {median([x[0] for x in app]):.0f} "
                f"| {median([x[1] for x in app]):.2f} | {median([x[2] for x in app]):.2f} "
                f"| {median([y[0] for y in r['bare']]):.0f} ({r['bare_label']}) | {ratio:.2f} "
                f"| {sum(x[3] for x in app)} / {sum(y[3] for y in r['bare'])} |")
    keys = [
        ("hospitals", "hospitals"), ("events", "timeline events"),
        ("import_s", "import of a 2,000-row list (s)"),
        ("assign_s", "assignment of 5,000 engagements (s)"),
        ("mail_smtp_per_s", "mail to SMTP on loopback (messages/s)"),
        ("mail_files_per_s", "mail to files (messages/s)"),
        ("rss_start_mb", "RSS after start (MB)"),
        ("rss_idle_mb", "RSS idle, data loaded (MB)"),
        ("rss_load_mb", "RSS peak under 64-connection load (MB)"),
        ("rss_after_mb", "RSS idle after the load (MB)"),
        ("threads_after", "threads after the load"),
        ("summary_ms", "dashboard summary, one client, p50 (ms)"),
        ("groupby_ms", "the issue's raw GROUP BY via sqlite3/psql (ms)"),
        ("groupby_own_ms", "the summary's own grouped statement via sqlite3/psql (ms)"),
    ]
    out += ["", "| measure | " + " | ".join(backends) + " |",
            "|---|" + "---:|" * len(backends)]
    for key, title in keys:
        if any((b, key) in extra for b in backends):
            out.append(f"| {title} | " + " | ".join(extra.get((b, key), "–") for b in backends) + " |")
    print("\n".join(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("events")
    e.add_argument("base")
    e.add_argument("--target", type=int, required=True)
    e.add_argument("--have", type=int, default=0)
    e.add_argument("--threads", type=int, default=8)
    i = sub.add_parser("ids")
    i.add_argument("base")
    i.add_argument("--out", required=True)
    i.add_argument("--count", type=int, default=200)
    im = sub.add_parser("import")
    im.add_argument("base")
    im.add_argument("--rows", type=int, default=2000)
    im.add_argument("--round", required=True)
    im.add_argument("--district", type=int, default=95)
    asg = sub.add_parser("assign")
    asg.add_argument("base")
    asg.add_argument("--count", type=int, default=5000)
    m = sub.add_parser("mail")
    m.add_argument("base")
    m.add_argument("--engagements", type=int, default=2000)
    s = sub.add_parser("sink")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--stats", required=True)
    w = sub.add_parser("wrkstat")
    w.add_argument("file")
    q = sub.add_parser("sqltime")
    q.add_argument("db")
    q.add_argument("query")
    r = sub.add_parser("report")
    r.add_argument("dir")
    a = p.parse_args()
    if a.cmd == "sink":
        asyncio.run(sink(a))
    else:
        {"events": cmd_events, "ids": cmd_ids, "import": cmd_import, "assign": cmd_assign,
         "mail": cmd_mail, "wrkstat": cmd_wrkstat, "report": cmd_report,
         "sqltime": cmd_sqltime}[a.cmd](a)


if __name__ == "__main__":
    main()
