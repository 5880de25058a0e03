//! The engagement model: milestones, the stage derived from them, side states, the guards on
//! each step, what is awaited next and from whom, and the SLA clock.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where an engagement stands, derived from its milestones (never set by hand).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Selected,
    Contacting,
    Consented,
    Memorandum,
    Intake,
    Hearing,
    Verification,
    Backup,
    Completed,
}

impl Stage {
    pub const ALL: [Stage; 9] = [
        Stage::Selected,
        Stage::Contacting,
        Stage::Consented,
        Stage::Memorandum,
        Stage::Intake,
        Stage::Hearing,
        Stage::Verification,
        Stage::Backup,
        Stage::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Selected => "selected",
            Stage::Contacting => "contacting",
            Stage::Consented => "consented",
            Stage::Memorandum => "memorandum",
            Stage::Intake => "intake",
            Stage::Hearing => "hearing",
            Stage::Verification => "verification",
            Stage::Backup => "backup",
            Stage::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A recorded step. Each is set once, with who and when.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    Contacted,
    Consented,
    MemorandumExecuted,
    DiagramReceived,
    QuestionnaireSubmitted,
    QuestionnaireAccepted,
    HearingHeld,
    ReportDelivered,
    BackupDecided,
    BackupSkipped,
    Completed,
}

impl Milestone {
    pub const ALL: [Milestone; 11] = [
        Milestone::Contacted,
        Milestone::Consented,
        Milestone::MemorandumExecuted,
        Milestone::DiagramReceived,
        Milestone::QuestionnaireSubmitted,
        Milestone::QuestionnaireAccepted,
        Milestone::HearingHeld,
        Milestone::ReportDelivered,
        Milestone::BackupDecided,
        Milestone::BackupSkipped,
        Milestone::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Milestone::Contacted => "contacted",
            Milestone::Consented => "consented",
            Milestone::MemorandumExecuted => "memorandum_executed",
            Milestone::DiagramReceived => "diagram_received",
            Milestone::QuestionnaireSubmitted => "questionnaire_submitted",
            Milestone::QuestionnaireAccepted => "questionnaire_accepted",
            Milestone::HearingHeld => "hearing_held",
            Milestone::ReportDelivered => "report_delivered",
            Milestone::BackupDecided => "backup_decided",
            Milestone::BackupSkipped => "backup_skipped",
            Milestone::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Milestone> {
        Milestone::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

pub type Milestones = BTreeSet<Milestone>;

/// The furthest stage whose condition holds (DESIGN.md §3). Intake needs the diagram and an
/// accepted questionnaire.
pub fn derive_stage(m: &Milestones) -> Stage {
    use Milestone as M;
    let has = |x| m.contains(&x);
    if has(M::Completed) {
        Stage::Completed
    } else if has(M::BackupDecided) || has(M::BackupSkipped) {
        Stage::Backup
    } else if has(M::ReportDelivered) {
        Stage::Verification
    } else if has(M::HearingHeld) {
        Stage::Hearing
    } else if has(M::DiagramReceived) && has(M::QuestionnaireAccepted) {
        Stage::Intake
    } else if has(M::MemorandumExecuted) {
        Stage::Memorandum
    } else if has(M::Consented) {
        Stage::Consented
    } else if has(M::Contacted) {
        Stage::Contacting
    } else {
        Stage::Selected
    }
}

/// States beside the pipeline that stop the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SideState {
    /// The hospital declined support (participation is voluntary).
    Declined,
    /// The vendor or the prefecture withdrew the hospital from the list.
    Withdrawn,
    /// Paused for the hospital's circumstances, with an expected resume date.
    OnHold,
}

impl SideState {
    pub fn as_str(self) -> &'static str {
        match self {
            SideState::Declined => "declined",
            SideState::Withdrawn => "withdrawn",
            SideState::OnHold => "on_hold",
        }
    }

    pub fn parse(s: &str) -> Option<SideState> {
        [SideState::Declined, SideState::Withdrawn, SideState::OnHold]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Memorandum (覚書) status, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemorandumStatus {
    Draft,
    Sent,
    SignedByHospital,
    Executed,
}

impl MemorandumStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemorandumStatus::Draft => "draft",
            MemorandumStatus::Sent => "sent",
            MemorandumStatus::SignedByHospital => "signed_by_hospital",
            MemorandumStatus::Executed => "executed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::Sent,
            Self::SignedByHospital,
            Self::Executed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// What a command wants to do, for the guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Details (rank, note) and assignment: allowed in every state.
    Edit,
    LogContact,
    RecordConsent,
    /// Move the memorandum from one status to another.
    Memorandum(Option<MemorandumStatus>, MemorandumStatus),
    /// Receive anything confidential: diagram, questionnaire answers, findings, minutes.
    Confidential,
    /// Receive the memorandum itself (the signed copy): needed before it can be executed.
    MemorandumCopy,
    ReviewQuestionnaire,
    OfferSlots,
    BookHearing,
    /// Move the scheduled hearing to another slot: needs a scheduled hearing, as cancelling
    /// does (its own action, so that its rule can differ from the outcome's).
    RescheduleHearing,
    CancelHearing,
    RecordHearingOutcome,
    DeliverReport,
    BackupProposal,
    Complete,
    SetSideState(SideState),
    Resume,
}

/// A refused step: a stable code and a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub reason: String,
}

fn refuse(code: &'static str, reason: impl Into<String>) -> Result<(), Refusal> {
    Err(Refusal {
        code,
        reason: reason.into(),
    })
}

/// The facts the guards look at.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub milestones: Milestones,
    pub side_state: Option<SideState>,
    pub hearing_scheduled: bool,
}

pub fn check(action: Action, f: &Facts) -> Result<(), Refusal> {
    use Milestone as M;
    let has = |m| f.milestones.contains(&m);
    if action == Action::Edit {
        return Ok(());
    }
    match (action, f.side_state) {
        (Action::Resume, None) => {
            return refuse(
                "not_paused",
                "the engagement is not declined, withdrawn or on hold",
            )
        }
        (Action::Resume, Some(_)) => return Ok(()),
        (_, Some(side)) => {
            return refuse(
                "side_state",
                format!("the engagement is {}; resume it first", side.as_str()),
            )
        }
        _ => {}
    }
    if has(M::Completed) {
        return refuse("completed", "the engagement is completed");
    }
    match action {
        Action::Edit
        | Action::LogContact
        | Action::RecordConsent
        | Action::SetSideState(_)
        | Action::MemorandumCopy
        | Action::Resume => Ok(()),
        Action::Memorandum(from, to) => {
            let ok = match (from, to) {
                (None, MemorandumStatus::Draft) => true,
                (Some(a), b) => b > a,
                (None, _) => true,
            };
            if ok {
                Ok(())
            } else {
                refuse(
                    "memorandum_order",
                    format!(
                        "the memorandum is already {}; it cannot go back to {}",
                        from.map_or("absent", MemorandumStatus::as_str),
                        to.as_str()
                    ),
                )
            }
        }
        Action::Confidential | Action::ReviewQuestionnaire => {
            if has(M::MemorandumExecuted) {
                Ok(())
            } else {
                refuse(
                    "memorandum_not_executed",
                    "nothing confidential (network diagram, questionnaire answers, findings, \
                     minutes) is accepted before the confidentiality memorandum (覚書) is executed",
                )
            }
        }
        Action::OfferSlots | Action::BookHearing => {
            if has(M::Consented) {
                Ok(())
            } else {
                refuse(
                    "not_consented",
                    "the hospital has not confirmed participation yet",
                )
            }
        }
        Action::RescheduleHearing | Action::CancelHearing | Action::RecordHearingOutcome => {
            if f.hearing_scheduled {
                Ok(())
            } else {
                refuse("no_hearing", "no hearing is scheduled")
            }
        }
        Action::DeliverReport => {
            if has(M::HearingHeld) {
                Ok(())
            } else {
                refuse(
                    "hearing_not_held",
                    "the verification report follows the hearing, which has not been held",
                )
            }
        }
        Action::BackupProposal => Ok(()),
        Action::Complete => {
            let mut missing = Vec::new();
            if !has(M::ReportDelivered) {
                missing.push("the verification report has not been delivered");
            }
            if !(has(M::BackupDecided) || has(M::BackupSkipped)) {
                missing.push("the offline-backup proposal is neither decided nor skipped");
            }
            if missing.is_empty() {
                Ok(())
            } else {
                refuse(
                    "completion",
                    format!("cannot complete: {}", missing.join("; ")),
                )
            }
        }
    }
}

/// Who holds things up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Hospital,
    Vendor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NextAction {
    /// A stable code, e.g. `upload_diagram`.
    pub code: &'static str,
    pub description: &'static str,
    pub awaiting: Party,
    pub since: DateTime<Utc>,
}

/// The sub-state facts that decide the next action within a stage.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub memorandum: Option<MemorandumStatus>,
    /// `draft`, `submitted`, `clarification_requested`, `accepted`, or None.
    pub questionnaire: Option<String>,
    pub open_slots: i64,
    pub hearing_scheduled: bool,
    pub backup_proposed: bool,
}

pub fn next_action(
    stage: Stage,
    f: &Facts,
    p: &Progress,
    since: DateTime<Utc>,
) -> Option<NextAction> {
    use Party::*;
    let na = |code, description, awaiting| {
        Some(NextAction {
            code,
            description,
            awaiting,
            since,
        })
    };
    match f.side_state {
        Some(SideState::OnHold) => {
            return na("resume", "resume when the hospital is ready", Hospital)
        }
        Some(_) => return None,
        None => {}
    }
    match stage {
        Stage::Selected => na(
            "first_contact",
            "make first contact with the hospital",
            Vendor,
        ),
        Stage::Contacting => na(
            "confirm_participation",
            "the hospital confirms participation",
            Hospital,
        ),
        Stage::Consented => match p.memorandum {
            None | Some(MemorandumStatus::Draft) => na(
                "send_memorandum",
                "send the confidentiality memorandum",
                Vendor,
            ),
            Some(MemorandumStatus::Sent) => na(
                "sign_memorandum",
                "the hospital signs the memorandum",
                Hospital,
            ),
            Some(_) => na(
                "execute_memorandum",
                "countersign and execute the memorandum",
                Vendor,
            ),
        },
        Stage::Memorandum => {
            if !f.milestones.contains(&Milestone::DiagramReceived) {
                na(
                    "upload_diagram",
                    "the hospital uploads its network diagram",
                    Hospital,
                )
            } else if p.questionnaire.as_deref() == Some("submitted") {
                na(
                    "review_questionnaire",
                    "review the submitted questionnaire",
                    Vendor,
                )
            } else {
                na(
                    "answer_questionnaire",
                    "the hospital answers the pre-questionnaire",
                    Hospital,
                )
            }
        }
        Stage::Intake => {
            if p.hearing_scheduled {
                na("hold_hearing", "hold the scheduled hearing", Vendor)
            } else if p.open_slots > 0 {
                na("pick_slot", "the hospital picks a hearing slot", Hospital)
            } else {
                na("offer_slots", "offer candidate hearing slots", Vendor)
            }
        }
        Stage::Hearing => na("deliver_report", "deliver the verification report", Vendor),
        Stage::Verification => {
            if p.backup_proposed {
                na(
                    "decide_backup",
                    "the hospital decides on the backup proposal",
                    Hospital,
                )
            } else {
                na(
                    "propose_backup",
                    "propose offline backup, or skip it with a reason",
                    Vendor,
                )
            }
        }
        Stage::Backup => na("complete", "close the engagement", Vendor),
        Stage::Completed => None,
    }
}

/// What is asked of the hospital, in Japanese, by next-action code (pages and nudges say it).
pub fn awaited_ja(code: &str) -> Option<&'static str> {
    Some(match code {
        "confirm_participation" => "ご参加の意思のご確認をお願いしております。",
        "sign_memorandum" => "秘密保持に関する覚書のご確認とご署名をお願いしております。",
        "upload_diagram" => "ネットワーク構成図のご提出をお願いしております。",
        "answer_questionnaire" => "事前質問票へのご回答をお願いしております。",
        "pick_slot" => "ヒアリング日程のご選択をお願いしております。",
        "decide_backup" => {
            "オフライン・バックアップ体制のご提案について、ご判断をお願いしております。"
        }
        "resume" => "ご支援を一時停止しております。再開のご連絡をお待ちしております。",
        _ => return None,
    })
}

/// Business days (see `calendar`) an engagement may stay in a stage before it counts as
/// overdue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sla {
    days: [i64; 8],
}

impl Default for Sla {
    fn default() -> Self {
        // selected, contacting, consented, memorandum, intake, hearing, verification, backup
        Self {
            days: [7, 14, 14, 30, 21, 30, 30, 30],
        }
    }
}

impl Sla {
    /// Parses `selected=7,contacting=14,…`; stages not named keep their default.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut sla = Sla::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not stage=days"))?;
            let stage = Stage::parse(k.trim())
                .filter(|s| *s != Stage::Completed)
                .ok_or_else(|| format!("`{k}` is not a stage with a clock"))?;
            let days: i64 = v
                .trim()
                .parse()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| format!("`{v}` is not a positive number of days"))?;
            sla.days[stage as usize] = days;
        }
        Ok(sla)
    }

    pub fn days(&self, stage: Stage) -> Option<i64> {
        self.days.get(stage as usize).copied()
    }

    /// The moment before which entering `stage` makes an engagement overdue now: `now` walked
    /// back by the stage's business days, so weekends, holidays and the year-end closure never
    /// count against anyone.
    pub fn deadline_cutoff(&self, stage: Stage, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.days(stage)
            .map(|d| super::calendar::business_cutoff(now, d))
    }

    pub fn is_overdue(
        &self,
        stage: Stage,
        side: Option<SideState>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        side.is_none()
            && self
                .deadline_cutoff(stage, now)
                .is_some_and(|cutoff| since < cutoff)
    }

    /// Every stage's cutoff at `now`, worked out once for judging many engagements (counting
    /// business days back is the costly part).
    pub fn cutoffs(&self, now: DateTime<Utc>) -> Cutoffs {
        Cutoffs(
            Stage::ALL
                .into_iter()
                .map(|s| (s, self.deadline_cutoff(s, now)))
                .collect(),
        )
    }
}

/// The SLA's cutoffs at one moment ([`Sla::cutoffs`]).
pub struct Cutoffs(Vec<(Stage, Option<DateTime<Utc>>)>);

impl Cutoffs {
    /// As [`Sla::is_overdue`] at the moment these cutoffs were taken.
    pub fn is_overdue(&self, stage: Stage, side: Option<SideState>, since: DateTime<Utc>) -> bool {
        side.is_none()
            && self
                .0
                .iter()
                .find(|(s, _)| *s == stage)
                .and_then(|(_, cutoff)| *cutoff)
                .is_some_and(|cutoff| since < cutoff)
    }

    /// The form the database filters take: for each stage with a clock, its name and the
    /// moment before which entering it is overdue.
    pub fn as_filter(&self) -> Vec<(String, chrono::NaiveDateTime)> {
        self.0
            .iter()
            .filter_map(|(s, cutoff)| cutoff.map(|c| (s.as_str().to_owned(), c.naive_utc())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Milestone as M;

    fn ms(list: &[Milestone]) -> Milestones {
        list.iter().copied().collect()
    }

    #[test]
    fn stage_follows_milestones() {
        assert_eq!(derive_stage(&ms(&[])), Stage::Selected);
        assert_eq!(derive_stage(&ms(&[M::Contacted])), Stage::Contacting);
        assert_eq!(
            derive_stage(&ms(&[M::Contacted, M::Consented])),
            Stage::Consented
        );
        let mut m = ms(&[
            M::Contacted,
            M::Consented,
            M::MemorandumExecuted,
            M::DiagramReceived,
        ]);
        assert_eq!(
            derive_stage(&m),
            Stage::Memorandum,
            "questionnaire not accepted yet"
        );
        m.insert(M::QuestionnaireSubmitted);
        assert_eq!(derive_stage(&m), Stage::Memorandum);
        m.insert(M::QuestionnaireAccepted);
        assert_eq!(derive_stage(&m), Stage::Intake);
        m.insert(M::HearingHeld);
        assert_eq!(derive_stage(&m), Stage::Hearing);
        m.insert(M::ReportDelivered);
        assert_eq!(derive_stage(&m), Stage::Verification);
        m.insert(M::BackupSkipped);
        assert_eq!(derive_stage(&m), Stage::Backup);
        m.insert(M::Completed);
        assert_eq!(derive_stage(&m), Stage::Completed);
    }

    #[test]
    fn nothing_confidential_before_the_memorandum() {
        let f = Facts {
            milestones: ms(&[M::Contacted, M::Consented]),
            ..Default::default()
        };
        let r = check(Action::Confidential, &f).unwrap_err();
        assert_eq!(r.code, "memorandum_not_executed");
        assert!(r.reason.contains("memorandum"));
        let f = Facts {
            milestones: ms(&[M::Consented, M::MemorandumExecuted]),
            ..Default::default()
        };
        assert!(check(Action::Confidential, &f).is_ok());
    }

    #[test]
    fn completion_needs_report_and_backup_decision() {
        let mut f = Facts {
            milestones: ms(&[M::HearingHeld]),
            ..Default::default()
        };
        let r = check(Action::Complete, &f).unwrap_err();
        assert!(r.reason.contains("report") && r.reason.contains("backup"));
        f.milestones.insert(M::ReportDelivered);
        let r = check(Action::Complete, &f).unwrap_err();
        assert!(!r.reason.contains("report has not") && r.reason.contains("backup"));
        f.milestones.insert(M::BackupDecided);
        assert!(check(Action::Complete, &f).is_ok());
    }

    #[test]
    fn side_states_stop_everything_but_resume() {
        let f = Facts {
            side_state: Some(SideState::OnHold),
            ..Default::default()
        };
        assert_eq!(
            check(Action::LogContact, &f).unwrap_err().code,
            "side_state"
        );
        assert!(check(Action::Resume, &f).is_ok());
        assert!(check(Action::Resume, &Facts::default()).is_err());
        assert!(check(Action::Edit, &f).is_ok());
    }

    #[test]
    fn memorandum_moves_forward_only() {
        use MemorandumStatus::*;
        let f = Facts::default();
        assert!(check(Action::Memorandum(None, Draft), &f).is_ok());
        assert!(check(Action::Memorandum(Some(Draft), Sent), &f).is_ok());
        assert!(check(Action::Memorandum(Some(Sent), Executed), &f).is_ok());
        assert!(check(Action::Memorandum(Some(Executed), Sent), &f).is_err());
        assert!(check(Action::Memorandum(Some(Sent), Sent), &f).is_err());
    }

    #[test]
    fn hearing_and_report_order() {
        let f = Facts::default();
        assert_eq!(
            check(Action::BookHearing, &f).unwrap_err().code,
            "not_consented"
        );
        assert_eq!(
            check(Action::RecordHearingOutcome, &f).unwrap_err().code,
            "no_hearing"
        );
        assert_eq!(
            check(Action::DeliverReport, &f).unwrap_err().code,
            "hearing_not_held"
        );
    }

    #[test]
    fn next_action_names_who_waits() {
        let now = Utc::now();
        let f = Facts::default();
        let p = Progress::default();
        let n = next_action(Stage::Selected, &f, &p, now).unwrap();
        assert_eq!((n.code, n.awaiting), ("first_contact", Party::Vendor));
        let n = next_action(Stage::Contacting, &f, &p, now).unwrap();
        assert_eq!(n.awaiting, Party::Hospital);
        let p2 = Progress {
            open_slots: 3,
            ..Default::default()
        };
        assert_eq!(
            next_action(Stage::Intake, &f, &p2, now).unwrap().code,
            "pick_slot"
        );
        assert!(next_action(Stage::Completed, &f, &p, now).is_none());
        let held = Facts {
            side_state: Some(SideState::Declined),
            ..Default::default()
        };
        assert!(next_action(Stage::Consented, &held, &p, now).is_none());
    }

    /// An instant in Japan's time.
    fn jst(y: i32, m: u32, d: u32, h: i64) -> DateTime<Utc> {
        crate::domain::calendar::start_of_day(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap())
            + chrono::Duration::hours(h)
    }

    #[test]
    fn sla_clock() {
        let sla = Sla::parse("selected=3, intake=10").unwrap();
        assert_eq!(sla.days(Stage::Selected), Some(3));
        assert_eq!(sla.days(Stage::Contacting), Some(14));
        assert_eq!(sla.days(Stage::Completed), None);
        // Wednesday 2026-11-18 10:00; three business days back is Friday 11-13 10:00.
        let now = jst(2026, 11, 18, 10);
        assert!(sla.is_overdue(Stage::Selected, None, jst(2026, 11, 13, 9), now));
        assert!(!sla.is_overdue(Stage::Selected, None, jst(2026, 11, 13, 11), now));
        assert!(!sla.is_overdue(
            Stage::Selected,
            Some(SideState::OnHold),
            jst(2026, 11, 1, 9),
            now
        ));
        assert!(Sla::parse("nonsense").is_err());
        assert!(Sla::parse("completed=3").is_err());
        assert!(Sla::parse("selected=0").is_err());
    }

    #[test]
    fn the_overdue_clock_never_runs_over_golden_week() {
        let sla = Sla::parse("contacting=2").unwrap();
        // Entered on Friday 5/1 at noon, the last working day before the holidays (5/2–5/6).
        let since = jst(2026, 5, 1, 12);
        for day in 2..=6 {
            for hour in [0, 12, 23] {
                let now = jst(2026, 5, day, hour);
                assert!(
                    !sla.is_overdue(Stage::Contacting, None, since, now),
                    "overdue on 5/{day} {hour}:00"
                );
            }
        }
        // One business day on 5/7 noon, two on 5/8 noon, overdue after that.
        assert!(!sla.is_overdue(Stage::Contacting, None, since, jst(2026, 5, 8, 11)));
        assert!(sla.is_overdue(Stage::Contacting, None, since, jst(2026, 5, 8, 13)));
        // Calendar days alone would have made it overdue on 5/4.
        assert!(jst(2026, 5, 4, 0) - since > chrono::Duration::days(2));
    }

    #[test]
    fn cutoffs_taken_once_judge_as_the_rule_does() {
        let sla = Sla::parse("contacting=2,hearing=10").unwrap();
        let now = jst(2026, 5, 8, 13);
        let cutoffs = sla.cutoffs(now);
        for stage in Stage::ALL {
            for side in [None, Some(SideState::OnHold)] {
                for since in [jst(2026, 4, 1, 9), jst(2026, 5, 1, 12), jst(2026, 5, 8, 9)] {
                    assert_eq!(
                        cutoffs.is_overdue(stage, side, since),
                        sla.is_overdue(stage, side, since, now),
                        "{stage:?} {side:?} {since}"
                    );
                }
            }
        }
        // The database filters' form: the stages with a clock, nothing else.
        let filter = cutoffs.as_filter();
        let expected: Vec<(String, chrono::NaiveDateTime)> = Stage::ALL
            .into_iter()
            .filter_map(|s| {
                sla.deadline_cutoff(s, now)
                    .map(|c| (s.as_str().to_owned(), c.naive_utc()))
            })
            .collect();
        assert_eq!(filter, expected);
        assert!(!filter.is_empty() && filter.iter().all(|(s, _)| s != "completed"));
    }
}
