-- Rounds, hospitals and the engagement pipeline. The same SQL runs on PostgreSQL and SQLite.

CREATE TABLE rounds (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    fiscal_year BIGINT NOT NULL,
    tiers TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE support_slots (
    round_id TEXT NOT NULL REFERENCES rounds(id),
    prefecture_code TEXT NOT NULL,
    tier TEXT NOT NULL,
    slots BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (round_id, prefecture_code, tier)
);

CREATE TABLE hospitals (
    id TEXT PRIMARY KEY,
    prefecture_code TEXT NOT NULL,
    institution_code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    address TEXT,
    beds BIGINT,
    emr_status TEXT,
    emergency BOOLEAN NOT NULL DEFAULT FALSE,
    disaster_base BOOLEAN NOT NULL DEFAULT FALSE,
    vendor_company TEXT,
    vendor_contact TEXT,
    vendor_email TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX hospitals_prefecture_idx ON hospitals(prefecture_code);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    hospital_id TEXT NOT NULL REFERENCES hospitals(id),
    name TEXT NOT NULL,
    department TEXT,
    title TEXT,
    email TEXT,
    phone TEXT,
    charset TEXT NOT NULL DEFAULT 'utf-8',
    position BIGINT NOT NULL DEFAULT 0,
    removed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX contacts_hospital_idx ON contacts(hospital_id);

-- stage and stage_since are written only by the command that changes milestones, from the
-- milestones, in the same transaction: a cache for filtering, never edited on its own.
CREATE TABLE engagements (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds(id),
    hospital_id TEXT NOT NULL REFERENCES hospitals(id),
    organization_id TEXT REFERENCES organizations(id),
    prefecture_code TEXT NOT NULL,
    tier TEXT,
    rank BIGINT,
    secondary BOOLEAN NOT NULL DEFAULT FALSE,
    note TEXT,
    stage TEXT NOT NULL,
    stage_since TIMESTAMP NOT NULL,
    side_state TEXT,
    side_reason TEXT,
    resume_on DATE,
    memorandum_status TEXT,
    memorandum_template TEXT,
    memorandum_executed_on DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    UNIQUE (round_id, hospital_id)
);
CREATE INDEX engagements_org_idx ON engagements(organization_id);
CREATE INDEX engagements_stage_idx ON engagements(stage, stage_since);

CREATE TABLE milestones (
    engagement_id TEXT NOT NULL REFERENCES engagements(id),
    kind TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY (engagement_id, kind)
);

-- The append-only timeline: the audit trail and the dashboards' history.
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    engagement_id TEXT NOT NULL REFERENCES engagements(id),
    at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_label TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    stage_before TEXT NOT NULL,
    stage_after TEXT NOT NULL,
    override_reason TEXT
);
CREATE INDEX events_engagement_idx ON events(engagement_id, at);

CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    engagement_id TEXT NOT NULL REFERENCES engagements(id),
    purpose TEXT NOT NULL,
    doc_version BIGINT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    uploaded_by TEXT NOT NULL,
    UNIQUE (engagement_id, purpose, doc_version)
);

CREATE TABLE questionnaire_templates (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (key, version)
);

CREATE TABLE questionnaire_responses (
    engagement_id TEXT PRIMARY KEY REFERENCES engagements(id),
    template_id TEXT NOT NULL REFERENCES questionnaire_templates(id),
    answers TEXT NOT NULL,
    status TEXT NOT NULL,
    submitted_at TIMESTAMP,
    reviewed_at TIMESTAMP,
    review_comment TEXT,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE hearing_slots (
    id TEXT PRIMARY KEY,
    engagement_id TEXT NOT NULL REFERENCES engagements(id),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    format TEXT NOT NULL,
    meeting_url TEXT,
    place TEXT,
    withdrawn_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX hearing_slots_engagement_idx ON hearing_slots(engagement_id);

CREATE TABLE hearings (
    id TEXT PRIMARY KEY,
    engagement_id TEXT NOT NULL REFERENCES engagements(id),
    slot_id TEXT NOT NULL REFERENCES hearing_slots(id),
    status TEXT NOT NULL,
    attendees TEXT NOT NULL,
    sequence BIGINT NOT NULL DEFAULT 0,
    outcome_note TEXT,
    minutes_document_id TEXT REFERENCES documents(id),
    cancel_reason TEXT,
    booked_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- A slot is booked once, and an engagement has one scheduled hearing at a time: enforced by the
-- database, so that concurrent bookings cannot both win.
CREATE UNIQUE INDEX hearings_one_per_slot ON hearings(slot_id) WHERE status = 'scheduled';
CREATE UNIQUE INDEX hearings_one_per_engagement ON hearings(engagement_id) WHERE status = 'scheduled';

CREATE TABLE findings (
    id TEXT PRIMARY KEY,
    engagement_id TEXT NOT NULL REFERENCES engagements(id),
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    affected TEXT,
    recommendation TEXT,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX findings_engagement_idx ON findings(engagement_id);

CREATE TABLE backup_proposals (
    engagement_id TEXT PRIMARY KEY REFERENCES engagements(id),
    current_state TEXT NOT NULL,
    proposal TEXT NOT NULL,
    capacity_tb DOUBLE PRECISION,
    estimate_min_jpy BIGINT,
    estimate_max_jpy BIGINT,
    decision TEXT,
    decided_at TIMESTAMP,
    skipped_reason TEXT,
    updated_at TIMESTAMP NOT NULL
);

-- Answers to POSTs sent with an Idempotency-Key: the same key gets the same answer.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
