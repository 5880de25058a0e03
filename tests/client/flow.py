"""What a coordinator's script does, written against the client generated from
openapi/openapi.json. Every call raises on a status the spec does not list, and every answer is
parsed into the generated models, so a spec that no longer fits the server fails here.

Run by tests/client/run.sh (BASE_URL, ADMIN_EMAIL, ADMIN_PASSWORD set; the generated package
`et_client` on PYTHONPATH).
"""

import datetime
import io
import os
import pathlib

from et_client import AuthenticatedClient, Client
from et_client.api.auth import token
from et_client.api.engagements import contact_attempt, list_engagements, memorandum
from et_client.api.hearings import outcome
from et_client.api.imports import import_list
from et_client.api.intake import (
    download,
    get_questionnaire,
    list_documents,
    list_templates,
    save_questionnaire,
    upload,
)
from et_client.api.rounds import create_round, import_slots, set_slots
from et_client.models import (
    AnswersIn,
    AnswersInAnswers,
    AnswerYesNo,
    Channel,
    ContactAttemptIn,
    ContactOutcome,
    DocumentPurpose,
    DocumentUpload,
    EngagementDetail,
    ImportForm,
    MemorandumIn,
    MemorandumStatus,
    NewRound,
    Outcome,
    OutcomeIn,
    Problem,
    Stage,
    SupportSlotIn,
    TokenRequest,
    YesNoAnswer,
)
from et_client.types import File

ROOT = pathlib.Path(__file__).resolve().parents[2]
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def expect(value, kind, what):
    if not isinstance(value, kind):
        raise SystemExit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


base = os.environ["BASE_URL"]
anonymous = Client(base_url=base, raise_on_unexpected_status=True)

# 1. A token from email and password.
tok = token.sync(
    client=anonymous,
    body=TokenRequest(email=os.environ["ADMIN_EMAIL"], password=os.environ["ADMIN_PASSWORD"]),
)
if isinstance(tok, Problem):
    raise SystemExit(f"token refused: {tok.detail}")
api = AuthenticatedClient(base_url=base, token=tok.access_token, raise_on_unexpected_status=True)

# 2. A round, and its support slots from CSV (a text/csv body)…
expect(create_round.sync(client=api, body=NewRound(name="FY2025")), object, "round")
csv = "prefecture,tier,slots\n北海道,400+,2\n東京都,200-399,1\n".encode()
slots = import_slots.sync(
    client=api, round_="FY2025", body=File(payload=io.BytesIO(csv), file_name="slots.csv")
)
if isinstance(slots, Problem) or len(slots) != 2:
    raise SystemExit(f"slots from CSV: {slots!r}")
# …and as JSON, in the shape the spec gives (it once named the hearing slot's schema here).
slots = set_slots.sync(
    client=api, round_="FY2025", body=[SupportSlotIn(prefecture="13", tier="100-199", slots=2)]
)
if isinstance(slots, Problem) or len(slots) != 3:
    raise SystemExit(f"slots as JSON: {slots!r}")

# 3. A prefecture's list, imported as multipart (file + round).
listing = (ROOT / "examples" / "selection-list.csv").read_bytes()
report = import_list.sync(
    client=api,
    body=ImportForm(
        file=File(payload=io.BytesIO(listing), file_name="selection-list.csv", mime_type="text/csv"),
        round_="FY2025",
    ),
)
if isinstance(report, Problem) or report.created < 1 or not report.written:
    raise SystemExit(f"import: {report!r}")

engagements = list_engagements.sync(client=api, round_="FY2025")
if isinstance(engagements, Problem) or not engagements.items:
    raise SystemExit(f"engagements: {engagements!r}")
eid = engagements.items[0].id

# 4. A step of the pipeline: a contact attempt moves the engagement to `contacting`.
detail = contact_attempt.sync(
    id=eid,
    client=api,
    body=ContactAttemptIn(channel=Channel.PHONE, outcome=ContactOutcome.REACHED),
)
detail = expect(detail, EngagementDetail, "contact attempt")
if detail.stage != Stage.CONTACTING:
    raise SystemExit(f"stage after contact: {detail.stage}")

# 5. A document uploaded as multipart (the signed memorandum may come at any time), then listed:
#    its purpose parses as a document purpose (it once shared a name with link purposes).
detail = upload.sync(
    id=eid,
    client=api,
    purpose=DocumentPurpose.MEMORANDUM_SIGNED,
    body=DocumentUpload(file=[File(payload=io.BytesIO(PDF), file_name="覚書.pdf")]),
    if_match=f'"v{detail.version}"',
)
detail = expect(detail, EngagementDetail, "upload")
documents = list_documents.sync(id=eid, client=api)
if isinstance(documents, Problem) or [d.purpose for d in documents] != [DocumentPurpose.MEMORANDUM_SIGNED]:
    raise SystemExit(f"documents: {documents!r}")
content = download.sync(id=eid, doc_id=documents[0].id, client=api)
if isinstance(content, Problem) or content.payload.read() != PDF:
    raise SystemExit("the download is not the uploaded file")

# 6. A refused step answers a problem with its guard.
refused = outcome.sync(id=eid, client=api, body=OutcomeIn(outcome=Outcome.HELD))
if not isinstance(refused, Problem) or refused.status != 409 or not refused.guard:
    raise SystemExit(f"a refused step without a guard: {refused!r}")

# 7. The memorandum executed (the signed copy uploaded above already made it signed_by_hospital,
#    on the API as on the hospital's page), then a questionnaire answer in its typed shape.
detail = memorandum.sync(
    id=eid,
    client=api,
    body=MemorandumIn(status=MemorandumStatus.EXECUTED, executed_on=datetime.date.today()),
)
expect(detail, EngagementDetail, "memorandum executed")
templates = list_templates.sync(client=api)
question = next(
    q.id
    for t in templates
    for s in t.template.sections
    for q in s.questions
    if q.kind.type_.value == "yes_no"
)
answers = AnswersInAnswers()
answers[question] = AnswerYesNo(yes_no=YesNoAnswer(value=True, checked_on=datetime.date.today()))
expect(save_questionnaire.sync(id=eid, client=api, body=AnswersIn(answers=answers)), EngagementDetail, "answers")
saved = get_questionnaire.sync(id=eid, client=api)
if isinstance(saved, Problem) or not isinstance(saved.answers[question], AnswerYesNo):
    raise SystemExit(f"answers read back: {saved!r}")
if saved.answers[question].yes_no.value is not True:
    raise SystemExit("the answer changed on the way")

print(f"engagement {eid}: contacted, memorandum executed, {len(documents)} document, answers saved")
