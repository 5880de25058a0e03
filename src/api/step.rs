//! The plumbing every step endpoint shares, in one extractor: the caller, `If-Match`,
//! `Idempotency-Key`, one transaction on one connection (authentication included), and the
//! engagement's detail as the answer.

use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;

use super::caller::Caller;
use super::idempotency::{respond, Idem};
use super::IfMatch;
use crate::app::AppState;
use crate::db::DbConnection;
use crate::domain::ids::EngagementId;
use crate::error::{AppError, AppResult};
use crate::service::engagements::reason;
use crate::service::step::Target;
use crate::service::Ctx;

/// One step request: take it as a handler argument, then [`StepCall::run`] the use case.
pub struct StepCall {
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    if_match: IfMatch,
}

impl FromRequest for StepCall {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let if_match = IfMatch::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            Ok(StepCall {
                state,
                caller: caller.await?,
                if_match: if_match.await?,
                req,
            })
        })
    }
}

impl StepCall {
    /// Runs `use_case` on engagement `id` as one transaction with its timeline event; answers
    /// the engagement's detail. Honours `If-Match` and `Idempotency-Key`.
    pub async fn run<F>(
        self,
        id: impl Into<EngagementId>,
        override_reason: Option<String>,
        use_case: F,
    ) -> AppResult<HttpResponse>
    where
        F: FnOnce(&mut DbConnection, Target, &Ctx) -> AppResult<()> + Send + 'static,
    {
        // Read here, after the body: the JSON extractor leaves the body's hash for the key.
        let idem = Idem::new(&self.req)?;
        let id: EngagementId = id.into();
        let override_reason = match override_reason.filter(|r| !r.trim().is_empty()) {
            Some(r) => Some(reason("override_reason", &r)?),
            None => None,
        };
        let ctx = self.state.ctx();
        let if_match = self.if_match;
        let out = self
            .state
            .write_as(self.caller, move |conn, actor| {
                idem.once(conn, &actor.user_id, |conn| {
                    let target = Target::user(
                        conn,
                        actor,
                        &id,
                        Some(&if_match),
                        override_reason.as_deref(),
                        ctx.clock().now(),
                    )?;
                    use_case(conn, target, &ctx)?;
                    super::engagements::detail_json(conn, &ctx.config, &id)
                })
            })
            .await?;
        Ok(respond(out))
    }
}

impl StepCall {
    /// Runs a step whose body is given here: `action` is guarded, `kind` names the event.
    pub async fn step<F>(
        self,
        id: String,
        action: crate::domain::pipeline::Action,
        kind: crate::domain::events::EventKind,
        override_reason: Option<String>,
        body: F,
    ) -> AppResult<HttpResponse>
    where
        F: FnOnce(&mut DbConnection, &mut crate::service::step::Step) -> AppResult<()>
            + Send
            + 'static,
    {
        self.run(id, override_reason, move |conn, t, _| {
            crate::service::step::step(conn, t, action, kind, body)
        })
        .await
    }

    /// The application state, for handlers that read something before their step.
    pub fn state(&self) -> &web::Data<AppState> {
        &self.state
    }
}
