// One schema for both backends: only portable column types (Text ids, BigInt, Bool,
// Timestamp holding UTC).

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        parent_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        mail_signature -> Nullable<Text>,
        reply_to -> Nullable<Text>,
        cc_reply_to -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        organization_id -> Text,
        email -> Text,
        display_name -> Text,
        role -> Text,
        prefecture_code -> Nullable<Text>,
        password_hash -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        token_version -> BigInt,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        prefix -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(api_tokens -> users (user_id));

diesel::table! {
    rounds (id) {
        id -> Text,
        name -> Text,
        fiscal_year -> BigInt,
        tiers -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    support_slots (round_id, prefecture_code, tier) {
        round_id -> Text,
        prefecture_code -> Text,
        tier -> Text,
        slots -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    hospitals (id) {
        id -> Text,
        prefecture_code -> Text,
        institution_code -> Text,
        name -> Text,
        address -> Nullable<Text>,
        beds -> Nullable<BigInt>,
        emr_status -> Nullable<Text>,
        emergency -> Bool,
        disaster_base -> Bool,
        vendor_company -> Nullable<Text>,
        vendor_contact -> Nullable<Text>,
        vendor_email -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    contacts (id) {
        id -> Text,
        hospital_id -> Text,
        name -> Text,
        department -> Nullable<Text>,
        title -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        charset -> Text,
        position -> BigInt,
        removed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        mail_error -> Nullable<Text>,
    }
}

diesel::table! {
    engagements (id) {
        id -> Text,
        round_id -> Text,
        hospital_id -> Text,
        organization_id -> Nullable<Text>,
        prefecture_code -> Text,
        tier -> Nullable<Text>,
        rank -> Nullable<BigInt>,
        secondary -> Bool,
        note -> Nullable<Text>,
        stage -> Text,
        stage_since -> Timestamp,
        side_state -> Nullable<Text>,
        side_reason -> Nullable<Text>,
        resume_on -> Nullable<Date>,
        memorandum_status -> Nullable<Text>,
        memorandum_template -> Nullable<Text>,
        memorandum_executed_on -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        purged_at -> Nullable<Timestamp>,
        backup_decision -> Nullable<Text>,
    }
}

diesel::table! {
    milestones (engagement_id, kind) {
        engagement_id -> Text,
        kind -> Text,
        at -> Timestamp,
        actor -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        engagement_id -> Text,
        at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        actor_label -> Text,
        kind -> Text,
        payload -> Text,
        stage_before -> Text,
        stage_after -> Text,
        override_reason -> Nullable<Text>,
    }
}

diesel::table! {
    documents (id) {
        id -> Text,
        engagement_id -> Text,
        purpose -> Text,
        doc_version -> BigInt,
        filename -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        storage_key -> Text,
        uploaded_at -> Timestamp,
        uploaded_by -> Text,
        purged_at -> Nullable<Timestamp>,
        key_id -> Nullable<Text>,
        wrapped_key -> Nullable<Text>,
        nonce -> Nullable<Text>,
    }
}

diesel::table! {
    questionnaire_templates (id) {
        id -> Text,
        key -> Text,
        version -> BigInt,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    questionnaire_responses (engagement_id) {
        engagement_id -> Text,
        template_id -> Text,
        answers -> Text,
        status -> Text,
        submitted_at -> Nullable<Timestamp>,
        reviewed_at -> Nullable<Timestamp>,
        review_comment -> Nullable<Text>,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    hearing_slots (id) {
        id -> Text,
        engagement_id -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        format -> Text,
        meeting_url -> Nullable<Text>,
        place -> Nullable<Text>,
        withdrawn_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    hearings (id) {
        id -> Text,
        engagement_id -> Text,
        slot_id -> Text,
        status -> Text,
        attendees -> Text,
        sequence -> BigInt,
        outcome_note -> Nullable<Text>,
        minutes_document_id -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        booked_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    findings (id) {
        id -> Text,
        engagement_id -> Text,
        title -> Text,
        severity -> Text,
        affected -> Nullable<Text>,
        recommendation -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    backup_proposals (engagement_id) {
        engagement_id -> Text,
        current_state -> Text,
        proposal -> Text,
        capacity_tb -> Nullable<Double>,
        estimate_min_jpy -> Nullable<BigInt>,
        estimate_max_jpy -> Nullable<BigInt>,
        decision -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        skipped_reason -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Text,
        key -> Text,
        request_hash -> Text,
        status -> BigInt,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        engagement_id -> Nullable<Text>,
        contact_id -> Nullable<Text>,
        kind -> Text,
        message_id -> Text,
        envelope_from -> Text,
        envelope_to -> Text,
        subject -> Text,
        charset -> Text,
        raw -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    link_tokens (token_hash) {
        token_hash -> Text,
        engagement_id -> Text,
        contact_id -> Text,
        purpose -> Text,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    dashboard_sessions (id) {
        id -> Text,
        user_id -> Text,
        csrf -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(support_slots -> rounds (round_id));
diesel::joinable!(dashboard_sessions -> users (user_id));
diesel::joinable!(contacts -> hospitals (hospital_id));
diesel::joinable!(engagements -> hospitals (hospital_id));
diesel::joinable!(engagements -> rounds (round_id));
diesel::joinable!(milestones -> engagements (engagement_id));
diesel::joinable!(events -> engagements (engagement_id));
diesel::joinable!(documents -> engagements (engagement_id));
diesel::joinable!(hearings -> hearing_slots (slot_id));
diesel::joinable!(findings -> engagements (engagement_id));
diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    users,
    api_tokens,
    rounds,
    support_slots,
    hospitals,
    contacts,
    engagements,
    milestones,
    events,
    documents,
    questionnaire_templates,
    questionnaire_responses,
    hearing_slots,
    hearings,
    findings,
    backup_proposals,
    idempotency_keys,
    outbox,
    link_tokens,
    dashboard_sessions,
);
