"""Seeds a fresh server with real data for the fuzzing run and prints the ids as shell
assignments (tests/fuzz/run.sh sources them; schemathesis.toml reads them as ${ET_…}).

Every path parameter then names something that exists, so schemathesis reaches the handlers'
rules instead of stopping at 404. Operations that remove things get objects of their own.
"""

import datetime
import os
import pathlib
import sys

import requests

BASE = os.environ["BASE_URL"]
ROOT = pathlib.Path(__file__).resolve().parents[2]
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
session = requests.Session()


def call(method, path, expect=(200, 201, 202, 204), **kwargs):
    r = session.request(method, BASE + path, timeout=30, **kwargs)
    if r.status_code not in expect:
        sys.exit(f"seed: {method} {path} answered {r.status_code}: {r.text}")
    return r.json() if r.content else None


token = call("POST", "/api/v1/auth/token",
             json={"email": os.environ["ADMIN_EMAIL"], "password": os.environ["ADMIN_PASSWORD"]})
session.headers["Authorization"] = f"Bearer {token['access_token']}"
me = call("GET", "/api/v1/me")

ids = {"ET_TOKEN": token["access_token"], "ET_ADMIN_ID": me["id"], "ET_ROUND": "FY2025"}

# A round with slots, and a prefecture's list: hospitals, their contacts, engagements.
call("POST", "/api/v1/rounds", json={"name": "FY2025"})
call("POST", "/api/v1/rounds", json={"name": "FY2024"})
call("PUT", "/api/v1/rounds/FY2025/slots", json=[{"prefecture": "北海道", "tier": "400+", "slots": 3}])
listing = (ROOT / "examples" / "selection-list.csv").read_bytes()
call("POST", "/api/v1/imports", files={"file": ("list.csv", listing, "text/csv")}, data={"round": "FY2025"})

# Organisations and users: one of each to read and change, one of each to remove.
sub = call("POST", "/api/v1/organizations",
           json={"name": "Sub KK", "kind": "subcontractor", "parent_id": me["organization_id"]})
spare = call("POST", "/api/v1/organizations",
             json={"name": "Spare KK", "kind": "subcontractor", "parent_id": me["organization_id"]})
ids["ET_ORG_ID"], ids["ET_ORG_DELETE"] = sub["id"], spare["id"]
user = call("POST", "/api/v1/users", json={
    "email": "coordinator@sub.example", "display_name": "Coordinator", "role": "coordinator",
    "organization_id": sub["id"], "password": "a long enough password"})
gone = call("POST", "/api/v1/users", json={
    "email": "leaver@sub.example", "display_name": "Leaver", "role": "coordinator",
    "organization_id": sub["id"], "password": "a long enough password"})
ids["ET_USER_ID"], ids["ET_USER_DELETE"] = user["id"], gone["id"]
api_token = call("POST", "/api/v1/auth/api-tokens", json={"name": "fuzzing"})
ids["ET_API_TOKEN_ID"] = api_token["id"]

# The engagement the steps run on: consented, memorandum executed, a diagram, hearing slots,
# a finding, mail sent.
engagements = call("GET", "/api/v1/engagements?round=FY2025")["items"]
engagement = engagements[0]
eid = engagement["id"]
ids["ET_ENGAGEMENT_ID"] = eid
ids["ET_HOSPITAL_ID"] = engagement["hospital"]["id"]
call("POST", "/api/v1/engagements/assign", json={"ids": [e["id"] for e in engagements[1:]],
                                                 "organization_id": sub["id"]})
contacts = call("GET", f"/api/v1/hospitals/{ids['ET_HOSPITAL_ID']}/contacts")
ids["ET_CONTACT_ID"] = contacts[0]["id"]
extra = call("POST", f"/api/v1/hospitals/{ids['ET_HOSPITAL_ID']}/contacts",
             json={"name": "削除 予定", "email": "remove-me@chuo-hp.example"})
ids["ET_CONTACT_DELETE"] = extra["id"]

call("POST", f"/api/v1/engagements/{eid}/consent", json={})
for status in ("draft", "sent", "signed_by_hospital"):
    call("PUT", f"/api/v1/engagements/{eid}/memorandum", json={"status": status})
call("PUT", f"/api/v1/engagements/{eid}/memorandum",
     json={"status": "executed", "executed_on": datetime.date.today().isoformat()})
call("POST", f"/api/v1/engagements/{eid}/documents?purpose=diagram",
     files={"file": ("diagram.pdf", PDF, "application/pdf")})
ids["ET_DOCUMENT_ID"] = call("GET", f"/api/v1/engagements/{eid}/documents")[0]["id"]
start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=10)
slots = [
    {"starts_at": (start + datetime.timedelta(days=d)).isoformat(),
     "ends_at": (start + datetime.timedelta(days=d, hours=1)).isoformat(),
     "format": "online", "meeting_url": "https://meet.example/hearing"}
    for d in range(3)
]
call("POST", f"/api/v1/engagements/{eid}/hearing-slots", json={"slots": slots})
hearings = call("GET", f"/api/v1/engagements/{eid}/hearings")
ids["ET_SLOT_ID"] = hearings["slots"][0]["id"]
detail = call("POST", f"/api/v1/engagements/{eid}/findings",
              json={"title": "VPN firmware is old", "severity": "high"})
findings = call("GET", f"/api/v1/engagements/{eid}/findings")
ids["ET_FINDING_ID"] = findings[0]["id"]
queued = call("POST", f"/api/v1/engagements/{eid}/emails", json={"kind": "intake_request"})
ids["ET_MAIL_ID"] = queued["queued"][0]

for key, value in ids.items():
    print(f"export {key}='{value}'")
