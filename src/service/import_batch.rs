//! The set-based part of a list import: what exists is read in a few queries for all rows, and
//! the rows that only add (a new hospital, its contacts and engagement; an engagement for a
//! known hospital) are written in multi-row statements. A row that changes stored data is left
//! to `imports::rows::apply_row`, one row at a time, so that its rules (links revoked on a new email,
//! the step runner's event and version) stay in one place.

use std::collections::HashMap;

use serde_json::json;

use super::imports::{
    engagement_changes, hospital_changes, new_hospital, plan_contacts, RowResult,
};
use super::step::{event_row, Who};
use crate::db::engagements::{EngagementRow, EventRow, NewEngagement};
use crate::db::hospitals::{ContactRow, HospitalRow};
use crate::db::rounds::RoundRow;
use crate::db::{self, DbConnection};
use crate::domain::events::EventKind;
use crate::domain::ids::{EngagementId, HospitalId, RoundId};
use crate::domain::pipeline::Stage;
use crate::error::AppResult;
use crate::import::SelectionRow;

/// What the database holds for the listed hospitals.
pub struct Known {
    /// By institution code.
    hospitals: HashMap<String, HospitalRow>,
    /// Live contacts by hospital id, in position order.
    contacts: HashMap<HospitalId, Vec<ContactRow>>,
    /// This round's engagements by hospital id.
    engagements: HashMap<HospitalId, EngagementRow>,
}

impl Known {
    pub fn load(
        conn: &mut DbConnection,
        round_id: &RoundId,
        rows: &[(usize, SelectionRow)],
    ) -> AppResult<Self> {
        let codes: Vec<String> = rows
            .iter()
            .map(|(_, r)| r.institution_code.clone())
            .collect();
        let hospitals: HashMap<String, HospitalRow> = db::bulk::hospitals_by_codes(conn, &codes)?
            .into_iter()
            .map(|h| (h.institution_code.clone(), h))
            .collect();
        let ids: Vec<HospitalId> = hospitals.values().map(|h| h.id.clone()).collect();
        let mut contacts: HashMap<HospitalId, Vec<ContactRow>> = HashMap::new();
        for c in db::bulk::contacts_of(conn, &ids)? {
            contacts.entry(c.hospital_id.clone()).or_default().push(c);
        }
        let engagements = db::bulk::engagements_in_round(conn, round_id, &ids)?
            .into_iter()
            .map(|e| (e.hospital_id.clone(), e))
            .collect();
        Ok(Known {
            hospitals,
            contacts,
            engagements,
        })
    }
}

/// An engagement to insert, owned until the batch is written.
struct NewOwned {
    id: EngagementId,
    hospital_id: HospitalId,
    prefecture_code: String,
    tier: Option<String>,
    rank: Option<i64>,
    secondary: bool,
    note: Option<String>,
}

/// Rows waiting for the multi-row statements.
#[derive(Default)]
pub struct Batch {
    hospitals: Vec<HospitalRow>,
    contacts: Vec<ContactRow>,
    engagements: Vec<NewOwned>,
    events: Vec<EventRow>,
    round_id: RoundId,
    now: Option<chrono::NaiveDateTime>,
    /// The report rows (index, row) written by this batch, to redo one at a time if it fails.
    pub rows: Vec<(usize, SelectionRow)>,
}

impl Batch {
    /// Writes everything pending: hospitals, then their contacts, engagements and events.
    pub fn write(&self, conn: &mut DbConnection) -> AppResult<()> {
        let Some(now) = self.now else { return Ok(()) };
        db::bulk::insert_hospitals(conn, &self.hospitals)?;
        db::bulk::insert_contacts(conn, &self.contacts)?;
        let rows: Vec<NewEngagement> = self
            .engagements
            .iter()
            .map(|e| NewEngagement {
                id: &e.id,
                round_id: &self.round_id,
                hospital_id: &e.hospital_id,
                organization_id: None,
                prefecture_code: &e.prefecture_code,
                tier: e.tier.as_deref(),
                rank: e.rank,
                secondary: e.secondary,
                note: e.note.as_deref(),
                stage: Stage::Selected,
                stage_since: now,
                created_at: now,
                updated_at: now,
                version: 1,
            })
            .collect();
        db::bulk::insert_engagements(conn, &rows)?;
        db::bulk::insert_events(conn, &self.events)?;
        Ok(())
    }

    /// A new engagement (selected) and its first event, as `create_engagement` writes them.
    fn engagement(
        &mut self,
        who: &Who,
        round: &RoundRow,
        hospital: &HospitalRow,
        r: &SelectionRow,
        secondary: bool,
        now: chrono::NaiveDateTime,
    ) -> AppResult<EngagementId> {
        let tier = super::rounds::tier_label(round, hospital.beds)?;
        let rank = r.rank.map(i64::from);
        let id = EngagementId::new(db::new_id());
        self.round_id = round.id.clone();
        self.now = Some(now);
        self.engagements.push(NewOwned {
            id: id.clone(),
            hospital_id: hospital.id.clone(),
            prefecture_code: hospital.prefecture_code.clone(),
            tier,
            rank,
            secondary,
            note: r.note.clone(),
        });
        self.events.push(event_row(
            &id,
            who,
            now,
            EventKind::Imported,
            json!({"round": round.name, "rank": rank, "secondary": secondary}),
            Stage::Selected,
            Stage::Selected,
        ));
        Ok(id)
    }
}

/// Decides a good row without writing: `Some` when it is unchanged or only adds (then it is in
/// `batch`), `None` when it changes stored data and must be written one at a time.
pub fn plan(
    known: &Known,
    batch: &mut Batch,
    who: &Who,
    round: &RoundRow,
    r: &SelectionRow,
    secondary: bool,
    now: chrono::NaiveDateTime,
) -> AppResult<Option<(RowResult, EngagementId, Vec<String>)>> {
    let mut changed = Vec::new();
    match known.hospitals.get(&r.institution_code) {
        None => {
            let hospital = new_hospital(r, now);
            let contacts = plan_contacts(&hospital.id, &r.contacts, &[], now);
            if !contacts.inserts.is_empty() {
                changed.push("contacts".to_owned());
            }
            let id = batch.engagement(who, round, &hospital, r, secondary, now)?;
            batch.contacts.extend(contacts.inserts);
            batch.hospitals.push(hospital);
            Ok(Some((RowResult::Created, id, changed)))
        }
        Some(stored) => {
            let mut hospital = stored.clone();
            if !hospital_changes(&mut hospital, r).is_empty() {
                return Ok(None);
            }
            let contacts = known
                .contacts
                .get(&hospital.id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let plan = plan_contacts(&hospital.id, &r.contacts, contacts, now);
            if !plan.inserts.is_empty() || !plan.updates.is_empty() {
                return Ok(None);
            }
            match known.engagements.get(&hospital.id) {
                None => {
                    let id = batch.engagement(who, round, &hospital, r, secondary, now)?;
                    Ok(Some((RowResult::Created, id, changed)))
                }
                Some(e) => {
                    let tier = super::rounds::tier_label(round, hospital.beds)?;
                    if engagement_changes(e, r, &tier, secondary).is_empty() {
                        Ok(Some((RowResult::Unchanged, e.id.clone(), changed)))
                    } else {
                        Ok(None)
                    }
                }
            }
        }
    }
}
