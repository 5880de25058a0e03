//! Calendar invites that Outlook and Google accept: `METHOD:REQUEST` or `CANCEL`, one `UID` per
//! hearing series, `SEQUENCE` raised on every change, Tokyo local times with a `VTIMEZONE`.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, CalendarDateTime, Component, EventLike, EventStatus, Property};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone)]
pub struct Invite {
    pub uid: String,
    pub sequence: i64,
    pub method: Method,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub summary: String,
    /// Carries the reschedule and cancel links too.
    pub description: String,
    pub location: Option<String>,
    pub url: Option<String>,
    pub organizer: Person,
    pub attendees: Vec<Person>,
}

/// Which hearing starts the calendar series of hearing `index`, given every hearing's status
/// in booking order. A reschedule continues its series (the same UID, SEQUENCE raised); any
/// other end — cancelled, held, no-show, postponed — closes it, so the next booking starts a
/// series of its own with a new UID. (Calendars ignore a `REQUEST` for a UID they saw
/// cancelled unless its SEQUENCE is higher; a new series is the plainer rule.)
pub fn series_start(statuses: &[&str], index: usize) -> usize {
    let mut start = index.min(statuses.len().saturating_sub(1));
    while start > 0 && statuses[start - 1] == "rescheduled" {
        start -= 1;
    }
    start
}

/// icalendar writes `TZID=Asia/Tokyo` but no definition of it; clients want one.
const VTIMEZONE: &str = "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nTZNAME:JST\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

fn person(key: &str, p: &Person, attendee: bool) -> Property {
    let mut prop = Property::new(key, format!("mailto:{}", p.email));
    prop.add_parameter("CN", &p.name);
    if attendee {
        prop.add_parameter("ROLE", "REQ-PARTICIPANT");
        prop.add_parameter("PARTSTAT", "NEEDS-ACTION");
        prop.add_parameter("RSVP", "TRUE");
    }
    prop
}

pub fn render(inv: &Invite, now: DateTime<Utc>) -> String {
    let tokyo = chrono_tz::Asia::Tokyo;
    let mut event = icalendar::Event::new();
    event
        .uid(&inv.uid)
        .sequence(inv.sequence.clamp(0, i64::from(u32::MAX)) as u32)
        .timestamp(now)
        .summary(&inv.summary)
        .description(&inv.description)
        .starts(CalendarDateTime::from_date_time(
            inv.starts_at.with_timezone(&tokyo),
        ))
        .ends(CalendarDateTime::from_date_time(
            inv.ends_at.with_timezone(&tokyo),
        ))
        .append_property(person("ORGANIZER", &inv.organizer, false));
    for a in &inv.attendees {
        event.append_multi_property(person("ATTENDEE", a, true));
    }
    if let Some(l) = &inv.location {
        event.location(l);
    }
    if let Some(u) = &inv.url {
        event.url(u);
    }
    event.status(match inv.method {
        Method::Request => EventStatus::Confirmed,
        Method::Cancel => EventStatus::Cancelled,
    });
    let mut cal = Calendar::new();
    cal.append_property(Property::new(
        "METHOD",
        match inv.method {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        },
    ));
    cal.push(event.done());
    let text = cal.done().to_string();
    match text.find("BEGIN:VEVENT") {
        Some(at) => format!("{}{VTIMEZONE}{}", &text[..at], &text[at..]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(method: Method, sequence: i64) -> Invite {
        Invite {
            uid: "hearing-1@example.jp".into(),
            sequence,
            method,
            starts_at: "2026-12-01T01:00:00Z".parse().unwrap(),
            ends_at: "2026-12-01T02:30:00Z".parse().unwrap(),
            summary: "ヒアリング".into(),
            description: "変更・取消: https://example.jp/p/hearing/x".into(),
            location: None,
            url: Some("https://meet.example/x".into()),
            organizer: Person {
                name: "架空セキュリティ株式会社".into(),
                email: "tracker@example.jp".into(),
            },
            attendees: vec![Person {
                name: "山田 太郎".into(),
                email: "yamada@hospital.example".into(),
            }],
        }
    }

    /// Lines as a client reads them: CRLF, folded lines joined.
    fn unfold(s: &str) -> String {
        s.replace("\r\n ", "")
    }

    #[test]
    fn a_request_has_what_calendar_clients_need() {
        let raw = render(&invite(Method::Request, 0), Utc::now());
        assert!(raw.contains("\r\n"));
        let s = unfold(&raw);
        for line in [
            "METHOD:REQUEST",
            "UID:hearing-1@example.jp",
            "SEQUENCE:0",
            "DTSTART;TZID=Asia/Tokyo:20261201T100000",
            "DTEND;TZID=Asia/Tokyo:20261201T113000",
            "BEGIN:VTIMEZONE",
            "TZOFFSETTO:+0900",
            "STATUS:CONFIRMED",
        ] {
            assert!(s.contains(line), "{line} in\n{s}");
        }
        assert!(s.contains("ORGANIZER;CN=") && s.contains("mailto:tracker@example.jp"));
        assert!(
            s.contains("ATTENDEE;")
                && s.contains("RSVP=TRUE")
                && s.contains("mailto:yamada@hospital.example")
        );
        assert!(s.find("BEGIN:VTIMEZONE") < s.find("BEGIN:VEVENT"));
        for line in raw.split("\r\n") {
            assert!(line.len() <= 75, "folded: {line}");
        }
    }

    #[test]
    fn a_series_runs_through_reschedules_and_ends_with_anything_else() {
        let h = ["rescheduled", "rescheduled", "cancelled", "scheduled"];
        assert_eq!(series_start(&h, 0), 0);
        assert_eq!(
            series_start(&h, 2),
            0,
            "the cancelled one ends the first series"
        );
        assert_eq!(
            series_start(&h, 3),
            3,
            "a booking after a cancel starts anew"
        );
        let h = ["held", "rescheduled", "scheduled"];
        assert_eq!(series_start(&h, 2), 1);
        assert_eq!(series_start(&["scheduled"], 0), 0);
    }

    #[test]
    fn a_cancellation_keeps_the_uid_and_raises_the_sequence() {
        let s = unfold(&render(&invite(Method::Cancel, 2), Utc::now()));
        assert!(s.contains("METHOD:CANCEL") && s.contains("STATUS:CANCELLED"));
        assert!(s.contains("UID:hearing-1@example.jp") && s.contains("SEQUENCE:2"));
    }
}
