//! The engagement steps that need no documents: details, contact, consent, memorandum status,
//! side states, resume, completion.

use super::*;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EngagementPatch {
    pub rank: Option<i64>,
    pub secondary: Option<bool>,
    pub note: Option<String>,
}

/// Change rank, the second-call mark or the note.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), request_body = EngagementPatch,
    params(crate::api::doc::StepHeaders),
    responses(
    (status = 200, body = EngagementDetail),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[patch("/engagements/{id}")]
pub async fn update_engagement(
    call: StepCall,
    path: web::Path<String>,
    body: Json<EngagementPatch>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let p = body.0;
    if p.rank.is_some_and(|r| r < 1) {
        return Err(AppError::field("rank", "must be 1 or more"));
    }
    call.step(
        id,
        Action::Edit,
        EventKind::DetailsChanged,
        None,
        move |_, step| {
            step.payload = json!({"rank": p.rank, "secondary": p.secondary, "note": p.note});
            if let Some(r) = p.rank {
                step.changes.rank = Some(Some(r));
            }
            if let Some(s) = p.secondary {
                step.changes.secondary = Some(s);
            }
            if let Some(n) = p.note {
                step.changes.note = Some(Some(n).filter(|n| !n.trim().is_empty()));
            }
            Ok(())
        },
    )
    .await
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Phone,
    Letter,
    Visit,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactOutcome {
    Reached,
    NoAnswer,
    LeftMessage,
    Bounced,
    Other,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactAttemptIn {
    pub channel: Channel,
    pub outcome: ContactOutcome,
    pub note: Option<String>,
}

/// Log a contact attempt; the first one moves the engagement to `contacting`.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), request_body = ContactAttemptIn,
    params(crate::api::doc::StepHeaders),
    responses(
    (status = 200, body = EngagementDetail),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/contact-attempts")]
pub async fn contact_attempt(
    call: StepCall,
    path: web::Path<String>,
    body: Json<ContactAttemptIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.step(
        path.into_inner(),
        Action::LogContact,
        EventKind::ContactAttempt,
        None,
        move |_, s| {
            s.payload =
                json!({"channel": input.channel, "outcome": input.outcome, "note": input.note});
            s.reach(Milestone::Contacted);
            Ok(())
        },
    )
    .await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NoteIn {
    pub note: Option<String>,
    /// Admin only: step past a rule; the reason lands in the timeline.
    pub override_reason: Option<String>,
}

/// Record the hospital's consent to take part (as told to a coordinator).
#[utoipa::path(tag = "engagements", security(("bearer" = [])), request_body = NoteIn,
    params(crate::api::doc::StepHeaders),
    responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/consent")]
pub async fn consent(
    call: StepCall,
    path: web::Path<String>,
    body: Json<NoteIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.step(
        path.into_inner(),
        Action::RecordConsent,
        EventKind::ConsentRecorded,
        input.override_reason,
        move |_, s| {
            s.payload = json!({"note": input.note});
            s.reach(Milestone::Consented);
            Ok(())
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorandumIn {
    pub status: MemorandumStatus,
    /// Version of the memorandum template used, e.g. `2025-04`.
    pub template_version: Option<String>,
    /// Execution date (for `executed`; default today in Japan).
    pub executed_on: Option<NaiveDate>,
    pub override_reason: Option<String>,
}

/// Move the confidentiality memorandum (覚書) forward: draft → sent → signed_by_hospital →
/// executed.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(crate::api::doc::StepHeaders), request_body = MemorandumIn, responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[put("/engagements/{id}/memorandum")]
pub async fn memorandum(
    call: StepCall,
    path: web::Path<String>,
    body: Json<MemorandumIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.run(path.into_inner(), input.override_reason.clone(), move |conn, t, _| {
        // The guard needs the status the step moves from: read inside the transaction.
        let from = t.engagement.memorandum_status;
        let action = Action::Memorandum(from, input.status);
        step::step(conn, t, action, EventKind::MemorandumStatus, move |_, s| {
            let executed_on = (input.status == MemorandumStatus::Executed)
                .then(|| input.executed_on.unwrap_or_else(|| s.today_in_japan()));
            s.payload = json!({"from": from, "to": input.status, "template_version": input.template_version, "executed_on": executed_on});
            s.changes.memorandum_status = Some(Some(input.status));
            if input.template_version.is_some() {
                s.changes.memorandum_template = Some(input.template_version);
            }
            if input.status == MemorandumStatus::Executed {
                s.changes.memorandum_executed_on = Some(executed_on);
                s.reach(Milestone::MemorandumExecuted);
            }
            Ok(())
        })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SideStateIn {
    pub state: SideState,
    pub reason: String,
    /// For `on_hold`: when work is expected to resume.
    pub resume_on: Option<NaiveDate>,
}

/// Decline (by the hospital), withdraw, or put on hold. History is kept; `resume` undoes it.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(crate::api::doc::StepHeaders), request_body = SideStateIn, responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/side-state")]
pub async fn side_state(
    call: StepCall,
    path: web::Path<String>,
    body: Json<SideStateIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    crate::service::engagements::check_side_state(input.state, &input.reason, input.resume_on)?;
    call.run(path.into_inner(), None, move |conn, t, _| {
        crate::service::engagements::set_side_state(
            conn,
            t,
            input.state,
            &input.reason,
            input.resume_on,
        )
    })
    .await
}

/// Resume an engagement that was declined, withdrawn or on hold; it returns to its stage.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(crate::api::doc::StepHeaders), request_body = NoteIn, responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/resume")]
pub async fn resume(
    call: StepCall,
    path: web::Path<String>,
    body: Json<NoteIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.step(path.into_inner(), Action::Resume, EventKind::Resumed, None, move |_, s| {
        s.payload = json!({"note": input.note, "was": s.engagement.side_state, "reason_was": s.engagement.side_reason});
        s.changes.side_state = Some(None);
        s.changes.side_reason = Some(None);
        s.changes.resume_on = Some(None);
        Ok(())
    })
    .await
}

/// Close the engagement: needs the verification report delivered and the backup proposal
/// decided or skipped (an admin may override with a reason).
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(crate::api::doc::StepHeaders), request_body = NoteIn, responses(
    (status = 200, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/complete")]
pub async fn complete(
    call: StepCall,
    path: web::Path<String>,
    body: Json<NoteIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.step(
        path.into_inner(),
        Action::Complete,
        EventKind::Completed,
        input.override_reason,
        move |_, s| {
            s.payload = json!({"note": input.note});
            s.reach(Milestone::Completed);
            Ok(())
        },
    )
    .await
}
