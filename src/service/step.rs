//! The one way an engagement changes: load it within the caller's scope, check `If-Match`, ask
//! the domain's guard, apply the step, re-derive the stage from the milestones, and append the
//! timeline event — all in the caller's transaction. Every channel runs its steps here.

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::auth::Actor;
use crate::db::engagements::{self as q, EngagementChanges, EngagementRow, EventRow};
use crate::db::{self, DbConnection, Scope};
use crate::domain::access::Role;
pub use crate::domain::events::EventKind;
use crate::domain::ids::{EngagementId, UserId};
use crate::domain::orgs as org_rules;
use crate::domain::pipeline::{self as rules, Action, Facts, Milestone, Stage};
use crate::error::{AppError, AppResult};

/// The version a client last read, as an entity tag (`"v3"`).
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The `If-Match` a client sent (none from the pages, the CLI or the mail worker): the step
/// runs only on the version it names.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(pub Option<String>);

impl IfMatch {
    /// The version to update from: the current one, if the header is absent, `*`, or names it;
    /// otherwise 412.
    pub fn check(&self, current: i64) -> AppResult<i64> {
        let Some(raw) = self.0.as_deref() else {
            return Ok(current);
        };
        let matches = raw == "*"
            || raw
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
                .filter_map(|t| t.strip_prefix('v')?.parse::<i64>().ok())
                .any(|v| v == current);
        if matches {
            Ok(current)
        } else {
            Err(AppError::PreconditionFailed(format!(
                "If-Match does not match the current version ({}); reload and try again",
                etag(current)
            )))
        }
    }
}

/// Which engagements the caller may see: all for an admin, those assigned to its own
/// organisation and the ones below it for a coordinator. Dashboard roles see none in detail.
pub fn engagement_scope(conn: &mut DbConnection, actor: &Actor) -> AppResult<Scope> {
    match actor.role {
        Role::Admin => Ok(Scope::All),
        Role::Coordinator => {
            let edges = db::orgs::edges(conn)?;
            Ok(Scope::Orgs(
                org_rules::subtree(&actor.organization_id, &edges)
                    .into_iter()
                    .collect(),
            ))
        }
        Role::Viewer | Role::PrefectureViewer => Err(AppError::Forbidden(
            "dashboard roles see progress figures only, not engagements".into(),
        )),
    }
}

/// Loads an engagement the caller may see, or 404 (another organisation's engagement does not
/// reveal that it exists).
pub fn load(conn: &mut DbConnection, actor: &Actor, id: &EngagementId) -> AppResult<EngagementRow> {
    let scope = engagement_scope(conn, actor)?;
    q::get_scoped(conn, id, &scope)?
        .ok_or_else(|| AppError::NotFound(format!("no engagement {id}")))
}

/// Who acted, as the timeline records it.
#[derive(Debug, Clone)]
pub struct Who {
    /// `user`, `contact` or `system`.
    pub kind: &'static str,
    pub id: Option<String>,
    pub label: String,
    pub is_admin: bool,
}

impl From<&Actor> for Who {
    fn from(a: &Actor) -> Self {
        Who {
            kind: "user",
            id: Some(a.user_id.to_string()),
            label: a.label.clone(),
            is_admin: a.role == Role::Admin,
        }
    }
}

impl Who {
    /// The service itself (the mail worker's scheduler).
    pub fn system() -> Self {
        Who {
            kind: "system",
            id: None,
            label: "system".into(),
            is_admin: false,
        }
    }

    /// The user who acted, when a user (not a hospital's contact, not the system) did: a
    /// mail's Reply-To.
    pub fn user_id(&self) -> Option<UserId> {
        self.id
            .clone()
            .filter(|_| self.kind == "user")
            .map(UserId::new)
    }

    fn tag(&self) -> String {
        format!("{}:{}", self.kind, self.id.as_deref().unwrap_or("-"))
    }
}

pub fn facts(conn: &mut DbConnection, e: &EngagementRow) -> AppResult<Facts> {
    let milestones = q::milestones(conn, &e.id)?
        .iter()
        .filter_map(|m| Milestone::parse(&m.kind))
        .collect();
    Ok(Facts {
        milestones,
        side_state: e.side_state,
        hearing_scheduled: db::hearings::scheduled(conn, &e.id)?.is_some(),
    })
}

/// What a step sees and what it asks to change.
pub struct Step {
    pub engagement: EngagementRow,
    pub facts: Facts,
    pub who: Who,
    pub now: NaiveDateTime,
    pub changes: EngagementChanges,
    /// Details for the timeline event.
    pub payload: Value,
    add: Vec<Milestone>,
    remove: Vec<Milestone>,
}

impl Step {
    /// The step's date in Japan, where the programme's dates are read.
    pub fn today_in_japan(&self) -> chrono::NaiveDate {
        crate::domain::calendar::date_in_japan(db::utc(self.now))
    }

    pub fn reach(&mut self, m: Milestone) {
        self.add.push(m);
    }

    pub fn undo(&mut self, m: Milestone) {
        self.remove.push(m);
    }

    pub fn has(&self, m: Milestone) -> bool {
        self.facts.milestones.contains(&m)
    }
}

pub struct Command<'a> {
    pub engagement_id: &'a EngagementId,
    pub if_match: Option<&'a IfMatch>,
    pub action: Action,
    /// An admin's reason for stepping past a guard.
    pub override_reason: Option<&'a str>,
    /// Timeline event kind, e.g. `consent_recorded`.
    pub kind: EventKind,
}

/// Whom a step runs for, on which engagement, under which preconditions: the same for every
/// channel (a user through the API, a contact through a page, the system).
pub struct Target<'a> {
    pub who: Who,
    pub engagement: EngagementRow,
    pub if_match: Option<&'a IfMatch>,
    /// An admin's reason for stepping past a guard.
    pub override_reason: Option<&'a str>,
    /// Where a contact acted from (address, user agent), added to the event as `via`.
    pub via: Option<Value>,
    /// The step's time, from the channel's clock.
    pub now: NaiveDateTime,
}

impl<'a> Target<'a> {
    /// An engagement the user may see (404 otherwise).
    pub fn user(
        conn: &mut DbConnection,
        actor: &Actor,
        id: &EngagementId,
        if_match: Option<&'a IfMatch>,
        override_reason: Option<&'a str>,
        now: NaiveDateTime,
    ) -> AppResult<Self> {
        Ok(Target {
            who: Who::from(actor),
            engagement: load(conn, actor, id)?,
            if_match,
            override_reason,
            via: None,
            now,
        })
    }

    /// An engagement already opened (by a link, or by the system).
    pub fn loaded(who: Who, engagement: EngagementRow, now: NaiveDateTime) -> Self {
        Target {
            who,
            engagement,
            if_match: None,
            override_reason: None,
            via: None,
            now,
        }
    }
}

/// Runs one step for a target: the use cases of `service/` call this.
pub fn step<T>(
    conn: &mut DbConnection,
    target: Target,
    action: Action,
    kind: EventKind,
    body: impl FnOnce(&mut DbConnection, &mut Step) -> AppResult<T>,
) -> AppResult<T> {
    let Target {
        who,
        engagement,
        if_match,
        override_reason,
        via,
        now,
    } = target;
    let id = engagement.id.clone();
    let cmd = Command {
        engagement_id: &id,
        if_match,
        action,
        override_reason,
        kind,
    };
    run_loaded(conn, who, engagement, cmd, now, |c, s| {
        let out = body(c, s)?;
        if let (Some(via), Value::Object(m)) = (via, &mut s.payload) {
            m.insert("via".into(), via);
        }
        Ok(out)
    })
}

/// Runs one step on an engagement already loaded, at `now` (the caller's clock).
pub fn run_loaded<T>(
    conn: &mut DbConnection,
    who: Who,
    engagement: EngagementRow,
    cmd: Command,
    now: NaiveDateTime,
    body: impl FnOnce(&mut DbConnection, &mut Step) -> AppResult<T>,
) -> AppResult<T> {
    // Without the lock, a concurrent step would make this one fail at `bump_version` with a 412
    // the caller never asked for (it sent no If-Match).
    let engagement = q::lock(conn, &engagement.id)?
        .ok_or_else(|| AppError::NotFound(format!("no engagement {}", engagement.id)))?;
    let version = match cmd.if_match {
        Some(m) => m.check(engagement.version)?,
        None => engagement.version,
    };
    let facts = facts(conn, &engagement)?;
    let override_reason = cmd.override_reason.map(str::trim).filter(|r| !r.is_empty());
    let mut overridden = None;
    if let Err(refusal) = rules::check(cmd.action, &facts) {
        match override_reason {
            Some(reason) if who.is_admin => {
                overridden = Some(format!(
                    "{} (guard {}: {})",
                    reason, refusal.code, refusal.reason
                ))
            }
            Some(_) => {
                return Err(AppError::Forbidden(
                    "only an admin may override a rule".into(),
                ))
            }
            None => {
                return Err(AppError::Refused {
                    code: refusal.code.into(),
                    reason: refusal.reason,
                })
            }
        }
    }
    let stage_before = rules::derive_stage(&facts.milestones);
    let mut step = Step {
        engagement,
        facts,
        who,
        now,
        changes: EngagementChanges::default(),
        payload: Value::Object(Default::default()),
        add: Vec::new(),
        remove: Vec::new(),
    };
    let out = body(conn, &mut step)?;
    let id = step.engagement.id.clone();
    let mut milestones = step.facts.milestones.clone();
    for m in &step.remove {
        q::remove_milestone(conn, &id, m.as_str())?;
        milestones.remove(m);
    }
    for m in &step.add {
        q::add_milestone(conn, &id, m.as_str(), step.now, &step.who.tag())?;
        milestones.insert(*m);
    }
    let stage_after = rules::derive_stage(&milestones);
    if stage_after != stage_before {
        q::set_stage(conn, &id, stage_after.as_str(), step.now)?;
    }
    q::update(conn, &id, &step.changes, step.now)?;
    record(conn, &step, cmd.kind, stage_before, stage_after, overridden)?;
    if !q::bump_version(conn, &id, version)? {
        return Err(AppError::PreconditionFailed(
            "the engagement changed meanwhile; reload and try again".into(),
        ));
    }
    Ok(out)
}

fn record(
    conn: &mut DbConnection,
    step: &Step,
    kind: EventKind,
    before: Stage,
    after: Stage,
    override_reason: Option<String>,
) -> AppResult<()> {
    let mut event = event_row(
        &step.engagement.id,
        &step.who,
        step.now,
        kind,
        step.payload.clone(),
        before,
        after,
    );
    event.override_reason = override_reason;
    q::insert_event(conn, &event)?;
    Ok(())
}

/// A timeline event as every step records it (bulk use cases insert many at once).
pub fn event_row(
    engagement_id: &EngagementId,
    who: &Who,
    at: NaiveDateTime,
    kind: EventKind,
    payload: Value,
    before: Stage,
    after: Stage,
) -> EventRow {
    EventRow {
        id: db::new_id(),
        engagement_id: engagement_id.clone(),
        at,
        actor_kind: who.kind.into(),
        actor_id: who.id.clone(),
        actor_label: who.label.clone(),
        kind,
        payload: payload.to_string(),
        stage_before: before,
        stage_after: after,
        override_reason: None,
    }
}

/// Appends an event that changes nothing (a download, a view, a link sent) at `now` (the
/// channel's clock), in the caller's transaction.
pub fn note(
    conn: &mut DbConnection,
    who: &Who,
    engagement: &EngagementRow,
    now: NaiveDateTime,
    kind: EventKind,
    payload: Value,
) -> AppResult<()> {
    let stage = engagement.stage;
    let event = event_row(&engagement.id, who, now, kind, payload, stage, stage);
    q::insert_event(conn, &event)?;
    Ok(())
}
