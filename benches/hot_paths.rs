//! The hot pure functions: parsing a 2,000-row CP932 selection list, deriving an engagement's
//! stage, rendering a mail and building it for the wire. `cargo bench --bench hot_paths`.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use engagement_tracker::domain::pipeline::{derive_stage, Milestone, Milestones};
use engagement_tracker::import::{self, Format};
use engagement_tracker::mail::charset::Charset;
use engagement_tracker::mail::message::{self, Addr, Parts};
use engagement_tracker::mail::render::{self, Context, MailKind, Sender};

fn luhn(nine: &str) -> u32 {
    let sum: u32 = nine
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| match (i % 2 == 0, d * 2) {
            (true, x) if x > 9 => x - 9,
            (true, x) => x,
            (false, _) => d,
        })
        .sum();
    (10 - sum % 10) % 10
}

/// A list as a prefecture sends it: CP932, CRLF, one contact per hospital.
fn cp932_list(rows: usize) -> Vec<u8> {
    let mut csv = String::from(
        "順位,都道府県,医療機関コード,病院名,所在地,病床数,電子カルテ導入状況,\
         担当者1氏名,担当者1所属,担当者1役職,担当者1電話,担当者1メール,備考\r\n",
    );
    for n in 0..rows {
        let nine = format!("131{:02}{:04}", 20 + n / 9000, n % 9000);
        csv.push_str(&format!(
            "{},東京都,{nine}{},架空総合病院{n},東京都架空区本町{n}番地,{},導入済,\
             山田 太郎,情報システム課,課長,03-5555-{:04},it{n}@hp{n}.example,\r\n",
            n + 1,
            luhn(&nine),
            50 + n % 400,
            n % 10_000,
        ));
    }
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&csv);
    assert!(!unmappable, "the list must be pure CP932");
    bytes.into_owned()
}

fn parse_list(c: &mut Criterion) {
    let bytes = cp932_list(2000);
    let rows = import::parse(&bytes, Format::Csv, None).expect("parses");
    assert_eq!(rows.iter().filter(|r| r.result.is_ok()).count(), 2000);
    c.bench_function("parse a 2,000-row CP932 list", |b| {
        b.iter(|| import::parse(black_box(&bytes), Format::Csv, None))
    });
}

fn stages(c: &mut Criterion) {
    // Every combination of milestones (2^11 sets).
    let sets: Vec<Milestones> = (0u32..1 << Milestone::ALL.len())
        .map(|bits| {
            Milestone::ALL
                .into_iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, m)| m)
                .collect()
        })
        .collect();
    c.bench_function("derive the stage of 2,048 milestone sets", |b| {
        b.iter(|| {
            for s in &sets {
                black_box(derive_stage(black_box(s)));
            }
        })
    });
}

fn context() -> Context {
    let links: BTreeMap<String, String> = ["landing", "participation", "memorandum"]
        .into_iter()
        .map(|k| {
            (
                k.to_owned(),
                format!("https://tracker.example/p/{k}/Zm9yZ2VkLXRva2VuLTAwMQ"),
            )
        })
        .collect();
    Context {
        hospital_name: "医療法人架空会 架空記念病院".into(),
        department: Some("情報システム課".into()),
        contact_name: "山田 太郎".into(),
        sender: Sender {
            organization: "架空セキュリティ株式会社".into(),
            person: "佐藤 花子".into(),
            email: "sato@contractor.example".into(),
            phone: Some("03-5555-0000".into()),
            signature: None,
        },
        links,
        ..Default::default()
    }
}

fn mail(c: &mut Criterion) {
    let ctx = context();
    let mut group = c.benchmark_group("first-contact mail");
    group.bench_function("render (subject, text, HTML)", |b| {
        b.iter(|| render::render(MailKind::FirstContact, black_box(&ctx), None))
    });
    let r = render::render(MailKind::FirstContact, &ctx, None).expect("renders");
    for (name, charset) in [
        ("UTF-8", Charset::Utf8),
        ("ISO-2022-JP", Charset::Iso2022Jp),
    ] {
        group.bench_function(format!("build for the wire, {name}"), |b| {
            b.iter(|| {
                message::build(black_box(&Parts {
                    from: Addr {
                        role: "sender",
                        name: "架空セキュリティ株式会社",
                        email: "noreply@contractor.example",
                    },
                    to: Addr {
                        role: "contact",
                        name: "山田 太郎",
                        email: "yamada@hp.example",
                    },
                    reply_to: None,
                    cc: None,
                    message_id: "<0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000@tracker.example>",
                    subject: &r.subject,
                    text: &r.text,
                    html: &r.html,
                    invite: None,
                    charset,
                }))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse_list, stages, mail);
criterion_main!(benches);
