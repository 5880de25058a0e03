//! What the list says, applied to stored rows: hospitals, their contacts and engagements, one
//! row at a time (the batch path in `import_batch` reuses the pure parts).

use super::*;
use crate::domain::ids::{ContactId, EngagementId, HospitalId};

fn emr_text(e: EmrStatus) -> &'static str {
    match e {
        EmrStatus::Full => "full",
        EmrStatus::Partial => "partial",
    }
}

/// A hospital as the list gives it, new.
pub(in crate::service) fn new_hospital(
    r: &SelectionRow,
    now: chrono::NaiveDateTime,
) -> HospitalRow {
    HospitalRow {
        id: HospitalId::new(db::new_id()),
        prefecture_code: r.prefecture_code.clone(),
        institution_code: r.institution_code.clone(),
        name: r.name.clone(),
        address: r.address.clone(),
        beds: r.beds.map(i64::from),
        emr_status: r.emr_status.map(|e| emr_text(e).to_owned()),
        emergency: false,
        disaster_base: false,
        vendor_company: None,
        vendor_contact: None,
        vendor_email: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// Applies what the list says to a stored hospital, in memory; the fields that changed.
pub(in crate::service) fn hospital_changes(h: &mut HospitalRow, r: &SelectionRow) -> Vec<String> {
    let mut changed = Vec::new();
    let mut set = |name: &str, differs: bool| {
        if differs {
            changed.push(name.to_owned());
        }
        differs
    };
    let beds = r.beds.map(i64::from);
    let emr = r.emr_status.map(|e| emr_text(e).to_owned());
    if set("name", h.name != r.name) {
        h.name = r.name.clone();
    }
    if set("address", r.address.is_some() && h.address != r.address) {
        h.address = r.address.clone();
    }
    if set("beds", beds.is_some() && h.beds != beds) {
        h.beds = beds;
    }
    if set("emr_status", emr.is_some() && h.emr_status != emr) {
        h.emr_status = emr;
    }
    changed
}

/// What the list would change on an engagement of this round.
pub(in crate::service) fn engagement_changes(
    e: &EngagementRow,
    r: &SelectionRow,
    tier: &Option<String>,
    secondary: bool,
) -> Vec<String> {
    let rank = r.rank.map(i64::from);
    let mut changed = Vec::new();
    if rank.is_some() && e.rank != rank {
        changed.push("rank".into());
    }
    if e.tier != *tier {
        changed.push("tier".into());
    }
    if secondary && !e.secondary {
        changed.push("secondary".into());
    }
    if r.note.is_some() && e.note != r.note {
        changed.push("note".into());
    }
    changed
}

/// Writes one good row, a statement at a time; returns what happened and the fields that
/// changed. Rows that change stored data take this way (see `import_batch` for the others).
pub(super) fn apply_row(
    conn: &mut DbConnection,
    who: &Who,
    round: &RoundRow,
    r: &SelectionRow,
    secondary: bool,
    now: NaiveDateTime,
) -> AppResult<(RowResult, EngagementId, Vec<String>)> {
    let mut changed = Vec::new();
    let hospital = match db::hospitals::by_code(conn, &r.institution_code)? {
        None => {
            let h = new_hospital(r, now);
            db::hospitals::insert(conn, &h)?;
            h
        }
        Some(mut h) => {
            changed = hospital_changes(&mut h, r);
            if !changed.is_empty() {
                let version = h.version;
                h.updated_at = now;
                db::hospitals::replace(conn, &h, version)?;
            }
            h
        }
    };
    if update_contacts(conn, &hospital.id, &r.contacts, now)? {
        changed.push("contacts".into());
    }
    let rank = r.rank.map(i64::from);
    let tier = crate::service::rounds::tier_label(round, hospital.beds)?;
    match db::engagements::find_by_round_hospital(conn, &round.id, &hospital.id)? {
        None => {
            let sel = Selection {
                rank,
                secondary,
                organization_id: None,
                note: r.note.as_deref(),
            };
            let e = create_engagement(conn, who, round, &hospital, sel, EventKind::Imported, now)?;
            Ok((RowResult::Created, e.id, changed))
        }
        Some(e) => {
            changed.extend(engagement_changes(&e, r, &tier, secondary));
            if changed.is_empty() {
                return Ok((RowResult::Unchanged, e.id, changed));
            }
            let id = e.id.clone();
            let payload = json!({"changed": changed});
            let note = r.note.clone();
            let cmd = Command {
                engagement_id: &id,
                if_match: None,
                action: Action::Edit,
                override_reason: None,
                kind: EventKind::ImportUpdated,
            };
            pipeline::run_loaded(conn, who.clone(), e, cmd, now, |_, s| {
                s.payload = payload;
                if rank.is_some() {
                    s.changes.rank = Some(rank);
                }
                s.changes.tier = Some(tier);
                if secondary {
                    s.changes.secondary = Some(true);
                }
                if note.is_some() {
                    s.changes.note = Some(note);
                }
                Ok(())
            })?;
            Ok((RowResult::Updated, id, changed))
        }
    }
}

/// What the list asks of one hospital's contacts: new ones, and stored ones it changes
/// (current, next).
pub(in crate::service) struct ContactPlan {
    pub inserts: Vec<ContactRow>,
    pub updates: Vec<(ContactRow, ContactRow)>,
}

/// Each listed contact kept as its own person (see `import::matching`); contacts the list
/// does not name stay.
pub(in crate::service) fn plan_contacts(
    hospital_id: &HospitalId,
    listed: &[import::ContactRow],
    stored: &[ContactRow],
    now: chrono::NaiveDateTime,
) -> ContactPlan {
    let emails: Vec<Option<String>> = listed
        .iter()
        .map(|c| c.email.as_deref().map(validate::normalize_email))
        .collect();
    let matches = matching::match_contacts(
        &listed
            .iter()
            .zip(&emails)
            .map(|(c, email)| Listed {
                slot: c.slot,
                name: &c.name,
                email: email.as_deref(),
            })
            .collect::<Vec<_>>(),
        &stored
            .iter()
            .map(|s| Stored {
                position: s.position,
                name: &s.name,
                email: s.email.as_deref(),
            })
            .collect::<Vec<_>>(),
    );
    let mut held: Vec<i64> = stored.iter().map(|s| s.position).collect();
    let mut plan = ContactPlan {
        inserts: Vec::new(),
        updates: Vec::new(),
    };
    for (c, found) in listed.iter().zip(matches) {
        let input = ContactIn {
            name: c.name.clone(),
            department: c.department.clone(),
            title: c.title.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            charset: None,
        };
        match found.and_then(|i| stored.get(i)) {
            None => {
                let position = matching::new_position(c.slot, &held);
                held.push(position);
                plan.inserts.push(contact_row(
                    ContactId::new(db::new_id()),
                    hospital_id.clone(),
                    input,
                    position,
                    now,
                ));
            }
            Some(current) => {
                let next = listed_over(
                    current,
                    contact_row(
                        current.id.clone(),
                        hospital_id.clone(),
                        input,
                        current.position,
                        now,
                    ),
                );
                if differs(current, &next) {
                    plan.updates.push((current.clone(), next));
                }
            }
        }
    }
    plan
}

/// Brings the hospital's contacts up to what the list says. Whether any changed.
fn update_contacts(
    conn: &mut DbConnection,
    hospital_id: &HospitalId,
    listed: &[import::ContactRow],
    now: chrono::NaiveDateTime,
) -> AppResult<bool> {
    let stored = db::hospitals::contacts(conn, hospital_id)?;
    let plan = plan_contacts(hospital_id, listed, &stored, now);
    let mut changed = !plan.inserts.is_empty();
    for row in &plan.inserts {
        db::hospitals::insert_contact(conn, row)?;
    }
    for (current, next) in plan.updates {
        changed |= save_contact(conn, &current, next, now)?.is_some();
    }
    Ok(changed)
}

/// What the list says over what is stored; what it leaves blank is kept.
fn listed_over(current: &ContactRow, listed: ContactRow) -> ContactRow {
    let mut next = current.clone();
    if !listed.name.is_empty() {
        next.name = listed.name;
    }
    next.department = listed.department.or(next.department);
    next.title = listed.title.or(next.title);
    next.phone = listed.phone.or(next.phone);
    next.email = listed.email.or(next.email);
    next
}
