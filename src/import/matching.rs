//! Which stored contact a listed contact is. Pure: the import decides with it what to update.
//!
//! A list names each contact in a column group (担当者1, 担当者2, …). Names are not identities
//! (two people called 加藤 花子 happen), so a listed contact is matched by its email first; if the
//! email finds no one, by its column position, as long as the contact there may be the same
//! person (the same name, or stored without an email). Every stored contact is matched at most
//! once, so two contacts of one row never merge into one.

/// A contact as the list gives it.
#[derive(Debug, Clone, Copy)]
pub struct Listed<'a> {
    /// Column group, 0 for 担当者1.
    pub slot: usize,
    pub name: &'a str,
    /// Normalised as stored.
    pub email: Option<&'a str>,
}

/// A contact as stored for the hospital.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub position: i64,
    pub name: &'a str,
    pub email: Option<&'a str>,
}

/// For each listed contact, the index of the stored contact it is, or `None` for a new one.
pub fn match_contacts(listed: &[Listed], stored: &[Stored]) -> Vec<Option<usize>> {
    let mut taken = vec![false; stored.len()];
    let mut out = vec![None; listed.len()];
    for (i, l) in listed.iter().enumerate() {
        let Some(email) = l.email else { continue };
        if let Some(j) = (0..stored.len()).find(|&j| !taken[j] && stored[j].email == Some(email)) {
            taken[j] = true;
            out[i] = Some(j);
        }
    }
    for (i, l) in listed.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let same_place = (0..stored.len()).find(|&j| {
            let s = &stored[j];
            !taken[j] && s.position == l.slot as i64 && (s.name == l.name || s.email.is_none())
        });
        if let Some(j) = same_place {
            taken[j] = true;
            out[i] = Some(j);
        }
    }
    out
}

/// The position a new contact takes: its column's, unless a stored contact holds it already.
pub fn new_position(slot: usize, held: &[i64]) -> i64 {
    let wanted = slot as i64;
    if held.contains(&wanted) {
        held.iter()
            .copied()
            .max()
            .map_or(wanted, |m| m.max(wanted) + 1)
    } else {
        wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l<'a>(slot: usize, name: &'a str, email: Option<&'a str>) -> Listed<'a> {
        Listed { slot, name, email }
    }

    fn s<'a>(position: i64, name: &'a str, email: Option<&'a str>) -> Stored<'a> {
        Stored {
            position,
            name,
            email,
        }
    }

    #[test]
    fn one_name_two_people_stay_two() {
        let stored = [
            s(0, "加藤 花子", Some("a@x.jp")),
            s(1, "加藤 花子", Some("b@x.jp")),
        ];
        let listed = [
            l(0, "加藤 花子", Some("a@x.jp")),
            l(1, "加藤 花子", Some("b@x.jp")),
        ];
        assert_eq!(match_contacts(&listed, &stored), [Some(0), Some(1)]);
        // Listed the other way round: still by email.
        let swapped = [listed[1], listed[0]];
        assert_eq!(match_contacts(&swapped, &stored), [Some(1), Some(0)]);
    }

    #[test]
    fn a_new_address_in_the_same_column_is_the_same_person() {
        let stored = [
            s(0, "加藤 花子", Some("a@x.jp")),
            s(1, "加藤 花子", Some("b@x.jp")),
        ];
        let listed = [
            l(0, "加藤 花子", Some("c@x.jp")),
            l(1, "加藤 花子", Some("b@x.jp")),
        ];
        assert_eq!(match_contacts(&listed, &stored), [Some(0), Some(1)]);
    }

    #[test]
    fn another_person_in_a_column_is_a_new_contact() {
        let stored = [
            s(0, "山田 太郎", Some("y@x.jp")),
            s(1, "髙橋 花子", Some("t@x.jp")),
        ];
        let listed = [
            l(0, "山田 太郎", Some("y@x.jp")),
            l(1, "加藤 一郎", Some("k@x.jp")),
        ];
        assert_eq!(match_contacts(&listed, &stored), [Some(0), None]);
        // Without an email either, a different name in that column is someone else.
        let listed = [l(1, "加藤 一郎", None)];
        assert_eq!(match_contacts(&listed, &stored), [None]);
    }

    #[test]
    fn contacts_without_email_match_by_column() {
        let stored = [s(0, "山田 太郎", Some("y@x.jp")), s(1, "佐藤 次郎", None)];
        let listed = [l(0, "山田 太郎", None), l(1, "佐藤 次郎", None)];
        assert_eq!(match_contacts(&listed, &stored), [Some(0), Some(1)]);
        // A stored contact without an email takes a corrected name, or a first email.
        let listed = [l(1, "佐藤 二郎", Some("s@x.jp"))];
        assert_eq!(match_contacts(&listed, &stored), [Some(1)]);
    }

    #[test]
    fn a_stored_contact_is_matched_once() {
        // 担当者2 has 担当者1's old position's person by email; 担当者1 does not take her again.
        let stored = [s(0, "加藤 花子", Some("a@x.jp"))];
        let listed = [
            l(0, "加藤 花子", Some("new@x.jp")),
            l(1, "加藤 花子", Some("a@x.jp")),
        ];
        assert_eq!(match_contacts(&listed, &stored), [None, Some(0)]);
    }

    #[test]
    fn new_contacts_take_their_column_if_free() {
        assert_eq!(new_position(1, &[]), 1);
        assert_eq!(new_position(1, &[0, 2]), 1);
        assert_eq!(new_position(1, &[0, 1]), 2);
        assert_eq!(new_position(0, &[0, 5]), 6);
    }
}
