//! Progress figures from the milestones and the timeline: counts per stage, when each stage was
//! reached (for the cumulative-flow chart), and how long each stage took in business days,
//! split by whom it waited on. Everything here replays the same rules the pipeline runs
//! (`derive_stage`, `next_action`), so the dashboards cannot disagree with an engagement's page.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::calendar;
use super::pipeline::{
    derive_stage, next_action, Facts, MemorandumStatus, Milestone, Party, Progress, SideState,
    Stage,
};

/// A count for each stage, in pipeline order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StageCounts {
    pub selected: i64,
    pub contacting: i64,
    pub consented: i64,
    pub memorandum: i64,
    pub intake: i64,
    pub hearing: i64,
    pub verification: i64,
    pub backup: i64,
    pub completed: i64,
}

impl StageCounts {
    pub fn get(&self, s: Stage) -> i64 {
        match s {
            Stage::Selected => self.selected,
            Stage::Contacting => self.contacting,
            Stage::Consented => self.consented,
            Stage::Memorandum => self.memorandum,
            Stage::Intake => self.intake,
            Stage::Hearing => self.hearing,
            Stage::Verification => self.verification,
            Stage::Backup => self.backup,
            Stage::Completed => self.completed,
        }
    }

    pub fn get_mut(&mut self, s: Stage) -> &mut i64 {
        match s {
            Stage::Selected => &mut self.selected,
            Stage::Contacting => &mut self.contacting,
            Stage::Consented => &mut self.consented,
            Stage::Memorandum => &mut self.memorandum,
            Stage::Intake => &mut self.intake,
            Stage::Hearing => &mut self.hearing,
            Stage::Verification => &mut self.verification,
            Stage::Backup => &mut self.backup,
            Stage::Completed => &mut self.completed,
        }
    }

    pub fn add(&mut self, other: &StageCounts) {
        for s in Stage::ALL {
            *self.get_mut(s) += other.get(s);
        }
    }

    pub fn total(&self) -> i64 {
        Stage::ALL.into_iter().map(|s| self.get(s)).sum()
    }

    /// How many reached each stage or went beyond it (a count by current stage, summed from the
    /// end of the pipeline).
    pub fn reached(&self) -> StageCounts {
        let mut out = StageCounts::default();
        let mut running = 0;
        for s in Stage::ALL.into_iter().rev() {
            running += self.get(s);
            *out.get_mut(s) = running;
        }
        out
    }
}

/// Completed ones among those still in the programme (on hold included); None when there are
/// none.
pub fn completion_rate(completed: i64, active: i64) -> Option<f64> {
    (active > 0).then(|| (completed as f64 / active as f64 * 1000.0).round() / 1000.0)
}

/// When an engagement first stood at each stage or beyond (index = stage order), replaying its
/// milestones in time order through `derive_stage`. A stage passed over in one step (say, a
/// backup proposal skipped before the report) counts as reached when the later one was.
pub fn reach_times(
    created: DateTime<Utc>,
    milestones: &[(Milestone, DateTime<Utc>)],
) -> [Option<DateTime<Utc>>; 9] {
    let mut reached = [None; 9];
    reached[0] = Some(created);
    let mut sorted: Vec<_> = milestones.to_vec();
    sorted.sort_by_key(|(_, at)| *at);
    let mut have = super::pipeline::Milestones::new();
    for (m, at) in sorted {
        have.insert(m);
        let stage = derive_stage(&have) as usize;
        for slot in reached.iter_mut().take(stage + 1) {
            slot.get_or_insert(at.max(created));
        }
    }
    reached
}

/// The Monday (in Japan) of the week holding `d`.
pub fn monday_of(d: NaiveDate) -> NaiveDate {
    d - Duration::days(d.weekday().num_days_from_monday() as i64)
}

/// For each week starting on the Mondays given, how many engagements had reached each stage by
/// the end of that week (Sunday midnight in Japan), or by `now` for a week not yet over.
pub fn weekly_flow(
    reached: &[[Option<DateTime<Utc>>; 9]],
    mondays: &[NaiveDate],
    now: DateTime<Utc>,
) -> Vec<StageCounts> {
    let mut times: Vec<Vec<DateTime<Utc>>> = (0..9)
        .map(|i| reached.iter().filter_map(|r| r[i]).collect())
        .collect();
    for t in &mut times {
        t.sort();
    }
    mondays
        .iter()
        .map(|monday| {
            let end = calendar::start_of_day(*monday + Duration::days(7)).min(now);
            let mut c = StageCounts::default();
            for s in Stage::ALL {
                *c.get_mut(s) = times[s as usize].partition_point(|t| *t < end) as i64;
            }
            c
        })
        .collect()
}

/// Something that happened to an engagement that changes what is awaited next.
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    Reached(Milestone),
    Memorandum(MemorandumStatus),
    /// `submitted`, `clarification_requested`, `accepted` or `draft`.
    Questionnaire(&'static str),
    SlotsOffered(i64),
    HearingBooked,
    /// Cancelled, held, no-show or postponed: nothing is scheduled any more.
    HearingClosed,
    BackupProposed,
    Side(Option<SideState>),
}

/// Time one engagement spent in one stage, in business days, and on whom it waited.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub stage: Stage,
    pub days: f64,
    pub hospital_days: f64,
    pub vendor_days: f64,
    /// The engagement has moved on to a later stage.
    pub finished: bool,
}

/// Replays an engagement's happenings (any order; sorted here) from its creation to `now`,
/// giving each stage visit's business time, split by the party `next_action` says is awaited.
/// Time in a side state (declined, withdrawn, on hold) stops the clock and counts for nobody.
pub fn stage_spans(
    created: DateTime<Utc>,
    happenings: &[(DateTime<Utc>, Happening)],
    now: DateTime<Utc>,
) -> Vec<Span> {
    let mut sorted: Vec<&(DateTime<Utc>, Happening)> = happenings.iter().collect();
    sorted.sort_by_key(|(at, _)| *at);
    let mut facts = Facts::default();
    let mut progress = Progress::default();
    let mut spans = vec![Span {
        stage: Stage::Selected,
        days: 0.0,
        hospital_days: 0.0,
        vendor_days: 0.0,
        finished: false,
    }];
    let mut clock = created;
    let mut account = |spans: &mut Vec<Span>, facts: &Facts, progress: &Progress, to| {
        let Some(span) = spans.last_mut() else { return };
        if to > clock {
            let days = calendar::business_days_between(clock, to);
            let awaited = match facts.side_state {
                None => next_action(span.stage, facts, progress, clock).map(|n| n.awaiting),
                Some(_) => None,
            };
            match awaited {
                Some(Party::Hospital) => span.hospital_days += days,
                Some(Party::Vendor) => span.vendor_days += days,
                None => {}
            }
            if awaited.is_some() {
                span.days += days;
            }
            clock = to;
        }
    };
    for (at, what) in sorted {
        let at = (*at).max(created).min(now);
        account(&mut spans, &facts, &progress, at);
        match what {
            Happening::Reached(m) => {
                facts.milestones.insert(*m);
            }
            Happening::Memorandum(s) => progress.memorandum = Some(*s),
            Happening::Questionnaire(s) => progress.questionnaire = Some((*s).to_owned()),
            Happening::SlotsOffered(n) => progress.open_slots += n,
            Happening::HearingBooked => {
                progress.open_slots = (progress.open_slots - 1).max(0);
                progress.hearing_scheduled = true;
                facts.hearing_scheduled = true;
            }
            Happening::HearingClosed => {
                progress.hearing_scheduled = false;
                facts.hearing_scheduled = false;
            }
            Happening::BackupProposed => progress.backup_proposed = true,
            Happening::Side(s) => facts.side_state = *s,
        }
        let stage = derive_stage(&facts.milestones);
        let current = spans.last().map_or(Stage::Selected, |s| s.stage);
        if stage != current {
            if let Some(last) = spans.last_mut() {
                last.finished = stage > current;
            }
            spans.push(Span {
                stage,
                days: 0.0,
                hospital_days: 0.0,
                vendor_days: 0.0,
                finished: false,
            });
        }
    }
    account(&mut spans, &facts, &progress, now);
    spans.retain(|s| s.stage != Stage::Completed);
    spans
}

/// The `p`-th percentile (0–100) by linear interpolation between closest ranks; None for no
/// values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

/// One decimal, for figures people read.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use Milestone as M;

    fn jst(m: u32, d: u32, h: i64) -> DateTime<Utc> {
        calendar::start_of_day(NaiveDate::from_ymd_opt(2026, m, d).unwrap()) + Duration::hours(h)
    }

    #[test]
    fn counts_add_and_accumulate() {
        let mut c = StageCounts::default();
        *c.get_mut(Stage::Selected) += 2;
        *c.get_mut(Stage::Hearing) += 3;
        *c.get_mut(Stage::Completed) += 1;
        assert_eq!(c.total(), 6);
        let r = c.reached();
        assert_eq!(r.selected, 6);
        assert_eq!(r.contacting, 4);
        assert_eq!(r.hearing, 4);
        assert_eq!(r.verification, 1);
        assert_eq!(r.completed, 1);
        assert_eq!(completion_rate(1, 4), Some(0.25));
        assert_eq!(completion_rate(0, 0), None);
    }

    #[test]
    fn reach_times_follow_the_derived_stage() {
        let created = jst(11, 2, 9);
        let r = reach_times(
            created,
            &[
                (M::Consented, jst(11, 5, 9)),
                (M::Contacted, jst(11, 3, 9)),
                // The diagram alone does not make intake; the accepted questionnaire does.
                (M::MemorandumExecuted, jst(11, 9, 9)),
                (M::DiagramReceived, jst(11, 10, 9)),
                (M::QuestionnaireAccepted, jst(11, 12, 9)),
            ],
        );
        assert_eq!(r[Stage::Selected as usize], Some(created));
        assert_eq!(r[Stage::Contacting as usize], Some(jst(11, 3, 9)));
        assert_eq!(r[Stage::Consented as usize], Some(jst(11, 5, 9)));
        assert_eq!(r[Stage::Memorandum as usize], Some(jst(11, 9, 9)));
        assert_eq!(r[Stage::Intake as usize], Some(jst(11, 12, 9)));
        assert_eq!(r[Stage::Hearing as usize], None);
    }

    #[test]
    fn weekly_flow_counts_what_was_reached_by_each_sunday() {
        let a = reach_times(jst(11, 2, 9), &[(M::Contacted, jst(11, 10, 9))]);
        let b = reach_times(jst(11, 4, 9), &[]);
        let mondays = [
            NaiveDate::from_ymd_opt(2026, 10, 26).unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 9).unwrap(),
        ];
        let now = jst(11, 11, 0);
        let w = weekly_flow(&[a, b], &mondays, now);
        assert_eq!((w[0].selected, w[0].contacting), (0, 0));
        assert_eq!((w[1].selected, w[1].contacting), (2, 0));
        assert_eq!((w[2].selected, w[2].contacting), (2, 1));
        assert_eq!(
            monday_of(NaiveDate::from_ymd_opt(2026, 11, 8).unwrap()),
            mondays[1]
        );
    }

    #[test]
    fn spans_split_by_who_is_awaited_and_skip_days_off() {
        // Selected on Monday 6-01 09:00; contacted Tuesday 09:00 (1 business day, the vendor's);
        // consent on Friday 09:00 (3 business days, the hospital's).
        let spans = stage_spans(
            jst(6, 1, 9),
            &[
                (jst(6, 5, 9), Happening::Reached(M::Consented)),
                (jst(6, 2, 9), Happening::Reached(M::Contacted)),
                // The memorandum is sent Monday 6-08 09:00 (the weekend does not count) and
                // signed Wednesday 09:00.
                (jst(6, 8, 9), Happening::Memorandum(MemorandumStatus::Sent)),
                (
                    jst(6, 10, 9),
                    Happening::Memorandum(MemorandumStatus::SignedByHospital),
                ),
            ],
            jst(6, 11, 9),
        );
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].stage, Stage::Selected);
        assert_eq!((spans[0].days, spans[0].vendor_days), (1.0, 1.0));
        assert!(spans[0].finished);
        assert_eq!(spans[1].stage, Stage::Contacting);
        assert_eq!((spans[1].days, spans[1].hospital_days), (3.0, 3.0));
        let c = &spans[2];
        assert_eq!(c.stage, Stage::Consented);
        assert!(!c.finished);
        // Friday (vendor: send) 1 day, Mon→Wed (hospital: sign) 2, Wed→Thu (vendor: execute) 1.
        assert_eq!((c.vendor_days, c.hospital_days, c.days), (2.0, 2.0, 4.0));
    }

    #[test]
    fn a_side_state_stops_the_clock() {
        let spans = stage_spans(
            jst(6, 1, 9),
            &[
                (jst(6, 2, 9), Happening::Side(Some(SideState::OnHold))),
                (jst(6, 4, 9), Happening::Side(None)),
            ],
            jst(6, 5, 9),
        );
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].days, 2.0);
    }

    #[test]
    fn percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(round1(percentile(&v, 90.0).unwrap()), 7.6);
        assert_eq!(percentile(&[5.0], 90.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[4.0, 1.0], 50.0), Some(2.5));
    }
}
