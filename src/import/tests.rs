//! Whole-file tests: every fixture is built here, none is read from outside the repository.

use super::*;

fn ok_rows(outcomes: &[RowOutcome]) -> Vec<&SelectionRow> {
    outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .collect()
}

fn errors_of(outcome: &RowOutcome) -> &[RowError] {
    match &outcome.result {
        Ok(row) => panic!("row {} parsed unexpectedly: {row:?}", outcome.row),
        Err(errors) => errors,
    }
}

const JA_HEADER: &str = "順位,都道府県,医療機関コード,病院名,所在地,病床数,電子カルテ導入状況,担当者1氏名,担当者1所属,担当者1電話,担当者1メール,担当者2氏名,担当者2メール,備考";

#[test]
fn cp932_csv_as_excel_saves_it() {
    let text = format!(
        "{JA_HEADER}\r\n\
         1,北海道,０１１０１１３７１９,架空市立中央病院,北海道架空市中央1-2-3,１２０床,導入済,山田　太郎,情報システム課,０１１ー５５５ー０１０１,Yamada＠Chuo-HP.example,,,\r\n\
         2,東京都,0123458,架空区民総合病院,,250,一部,,,,,,,\r\n\
         3,13,1310123457,架空記念病院,,80,,,,,,,,\r\n\
         4,大阪府,2712304563,,,100,,,,,,,,\r\n\
         ,,,,,,,,,,,,,\r\n\
         5,福岡県,4010200071,架空みなと病院,,96,全面,渡辺由美,事務部,092-555-0401,,,watanabe@minato-hp.example,①確認済\r\n"
    );
    let (bytes, _, had_errors) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!had_errors);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "fixture must not be UTF-8"
    );

    let outcomes = parse(&bytes, Format::Csv, None).unwrap();
    let rows: Vec<usize> = outcomes.iter().map(|o| o.row).collect();
    assert_eq!(rows, vec![2, 3, 4, 5, 7], "blank line 6 is skipped");

    let bad: Vec<usize> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.row)
        .collect();
    assert_eq!(bad, vec![4, 5]);

    let check_digit = errors_of(&outcomes[2]);
    assert_eq!(check_digit.len(), 1);
    assert_eq!(check_digit[0].column, "医療機関コード");
    assert!(check_digit[0].reason_ja.contains("検証番号"));
    assert!(check_digit[0].reason_en.contains("check digit"));

    let no_name = errors_of(&outcomes[3]);
    assert_eq!(no_name.len(), 1);
    assert_eq!(no_name[0].column, "病院名");

    let ok = ok_rows(&outcomes);
    let chuo = ok[0];
    assert_eq!(chuo.rank, Some(1));
    assert_eq!(chuo.prefecture_code, "01");
    assert_eq!(chuo.institution_code, "0110113719");
    assert_eq!(chuo.beds, Some(120));
    assert_eq!(chuo.emr_status, Some(EmrStatus::Full));
    assert_eq!(
        chuo.contacts,
        vec![ContactRow {
            slot: 0,
            name: "山田 太郎".into(),
            department: Some("情報システム課".into()),
            title: None,
            phone: Some("011-555-0101".into()),
            email: Some("yamada@chuo-hp.example".into()),
        }]
    );

    let kumin = ok[1];
    assert_eq!(kumin.prefecture_code, "13");
    assert_eq!(kumin.institution_code, "1310123458");
    assert_eq!(kumin.emr_status, Some(EmrStatus::Partial));
    assert!(kumin.contacts.is_empty());
    assert_eq!(kumin.address, None);

    let minato = ok[2];
    assert_eq!(minato.contacts.len(), 2);
    // Each contact knows its column group (matching on re-import uses it).
    assert_eq!(
        minato.contacts.iter().map(|c| c.slot).collect::<Vec<_>>(),
        [0, 1]
    );
    // A contact with only an email is kept, with an empty name.
    assert_eq!(minato.contacts[1].name, "");
    assert_eq!(
        minato.contacts[1].email.as_deref(),
        Some("watanabe@minato-hp.example")
    );
    assert_eq!(minato.note.as_deref(), Some("①確認済"));
}

#[test]
fn rejected_rows_keep_their_valid_code_and_name() {
    let text = format!(
        "{JA_HEADER}\n1,北海道,0110113719,,,,,,,,,,,\n2,北海道,0110113710,架空病院,,,,,,,,,,\n3,北海道,0110113719,架空中央病院,,abc,,,,,,,,\n"
    );
    let outcomes = parse(text.as_bytes(), Format::Csv, None).unwrap();
    let named: Vec<(Option<&str>, Option<&str>)> = outcomes
        .iter()
        .map(|o| (o.institution_code.as_deref(), o.hospital_name.as_deref()))
        .collect();
    assert_eq!(
        named,
        [
            (Some("0110113719"), None),
            (None, Some("架空病院")),
            (Some("0110113719"), Some("架空中央病院")),
        ]
    );
    assert!(outcomes.iter().all(|o| o.result.is_err()));
}

#[test]
fn two_contacts_of_a_row_cannot_share_an_address() {
    let text = format!(
        "{JA_HEADER}\n1,北海道,0110113719,架空病院,,,,加藤 花子,,,kato@x.example,加藤 花子,Kato@X.example,\n"
    );
    let outcomes = parse(text.as_bytes(), Format::Csv, None).unwrap();
    let errors = errors_of(&outcomes[0]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].column, "担当者2メール");
    assert!(errors[0].reason_ja.contains("担当者1"));

    // One name twice is fine: two people.
    let text = format!(
        "{JA_HEADER}\n1,北海道,0110113719,架空病院,,,,加藤 花子,,,a@x.example,加藤 花子,b@x.example,\n"
    );
    let outcomes = parse(text.as_bytes(), Format::Csv, None).unwrap();
    let row = outcomes[0].result.as_ref().unwrap();
    assert_eq!(row.contacts.len(), 2);
    assert_eq!(row.contacts[1].slot, 1);
}

#[test]
fn every_problem_of_a_row_is_reported() {
    let text = format!("{JA_HEADER}\n0,架空県,12345,架空病院,,-1,未導入,山田,,,not-an-email,,,\n");
    let outcomes = parse(text.as_bytes(), Format::Csv, None).unwrap();
    let errors = errors_of(&outcomes[0]);
    let columns: Vec<&str> = errors.iter().map(|e| e.column.as_str()).collect();
    assert_eq!(
        columns,
        vec![
            "順位",
            "都道府県",
            "医療機関コード",
            "病床数",
            "電子カルテ導入状況",
            "担当者1メール"
        ]
    );
    assert!(errors
        .iter()
        .all(|e| !e.reason_ja.is_empty() && !e.reason_en.is_empty()));
}

#[test]
fn local_part_with_unknown_prefecture_reports_the_prefecture_only() {
    let text = format!("{JA_HEADER}\n1,架空県,0113719,架空病院,,,,,,,,,,\n");
    let outcomes = parse(text.as_bytes(), Format::Csv, None).unwrap();
    let errors = errors_of(&outcomes[0]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].column, "都道府県");
}

#[test]
fn utf8_with_bom() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        "都道府県,医療機関コード,病院名\n北海道,0110113719,架空市立中央病院\n".as_bytes(),
    );
    for encoding in [None, Some(Encoding::Utf8)] {
        let outcomes = parse(&bytes, Format::Csv, encoding).unwrap();
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].row, 2);
        let row = outcomes[0].result.as_ref().unwrap();
        assert_eq!(row.name, "架空市立中央病院");
        assert_eq!(row.rank, None);
        assert_eq!(row.beds, None);
    }
}

#[test]
fn english_headers_and_unknown_columns() {
    let text = "Rank,Prefecture,Institution_Code,Name,Beds,EMR Status,FAX,contact1_name,Contact1_Title,contact1_email\n\
                2,Tokyo,1310123458,Fictional Ward Hospital,250,partial,03-0000-0000,Ichiro Suzuki,Director,ICHIRO@kumin-hp.example\n";
    let outcomes = parse(text.as_bytes(), Format::Csv, None).unwrap();
    let row = outcomes[0].result.as_ref().unwrap();
    assert_eq!(row.rank, Some(2));
    assert_eq!(row.prefecture_code, "13");
    assert_eq!(row.name, "Fictional Ward Hospital");
    assert_eq!(row.emr_status, Some(EmrStatus::Partial));
    assert_eq!(row.contacts[0].title.as_deref(), Some("Director"));
    assert_eq!(
        row.contacts[0].email.as_deref(),
        Some("ichiro@kumin-hp.example")
    );
}

#[test]
fn title_rows_above_the_header_are_skipped() {
    let text = "令和7年度 選定病院一覧,,\n作成：架空県,,\n都道府県,医療機関コード,病院名\n北海道,0110113719,架空市立中央病院\n";
    let outcomes = parse(text.as_bytes(), Format::Csv, None).unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].row, 4);
    assert!(outcomes[0].result.is_ok());
}

#[test]
fn xlsx_with_numeric_cells() {
    use rust_xlsxwriter::Workbook;

    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let headers = [
        "順位",
        "都道府県",
        "医療機関コード",
        "病院名",
        "病床数",
        "担当者1氏名",
        "担当者1電話",
    ];
    for (col, header) in headers.iter().enumerate() {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    // Codes typed as numbers: the leading zero of 0110113719 and of the local part 0123458 is lost.
    sheet.write_number(1, 0, 1.0).unwrap();
    sheet.write_string(1, 1, "北海道").unwrap();
    sheet.write_number(1, 2, 110113719.0).unwrap();
    sheet.write_string(1, 3, "架空市立中央病院").unwrap();
    sheet.write_number(1, 4, 420.0).unwrap();
    sheet.write_string(1, 5, "山田 太郎").unwrap();
    sheet.write_number(1, 6, 115550101.0).unwrap();

    sheet.write_number(2, 0, 2.0).unwrap();
    sheet.write_number(2, 1, 13.0).unwrap();
    sheet.write_number(2, 2, 123458.0).unwrap();
    sheet.write_string(2, 3, "架空区民総合病院").unwrap();
    sheet.write_string(2, 4, "２５０床").unwrap();

    // Row 4 left empty; row 5 has a text code with a wrong check digit.
    sheet.write_string(4, 1, "大阪府").unwrap();
    sheet.write_string(4, 2, "2712304560").unwrap();
    sheet.write_string(4, 3, "架空記念病院").unwrap();
    let bytes = book.save_to_buffer().unwrap();

    assert_eq!(detect_format(&bytes, None), Format::Xlsx);
    let outcomes = parse(&bytes, Format::Xlsx, None).unwrap();
    assert_eq!(
        outcomes.iter().map(|o| o.row).collect::<Vec<_>>(),
        vec![2, 3, 5]
    );

    let chuo = outcomes[0].result.as_ref().unwrap();
    assert_eq!(chuo.rank, Some(1));
    assert_eq!(chuo.institution_code, "0110113719");
    assert_eq!(chuo.beds, Some(420));
    // Phone numbers are not padded: only the code column knows its length.
    assert_eq!(chuo.contacts[0].phone.as_deref(), Some("115550101"));

    let kumin = outcomes[1].result.as_ref().unwrap();
    assert_eq!(kumin.prefecture_code, "13");
    assert_eq!(kumin.institution_code, "1310123458");
    assert_eq!(kumin.beds, Some(250));

    assert_eq!(errors_of(&outcomes[2])[0].column, "医療機関コード");
}

#[test]
fn missing_required_column() {
    let err = parse(
        "都道府県,病院名\n北海道,架空病院\n".as_bytes(),
        Format::Csv,
        None,
    )
    .unwrap_err();
    assert_eq!(
        err,
        FileError::MissingColumns(vec![Column::InstitutionCode])
    );
    assert!(err.ja().contains("医療機関コード"));
    assert!(err.en().contains("institution_code"));
}

#[test]
fn file_level_errors() {
    assert_eq!(parse(b"", Format::Csv, None), Err(FileError::Empty));
    assert_eq!(
        parse(b"\xEF\xBB\xBF\n,,\n", Format::Csv, None),
        Err(FileError::Empty)
    );
    assert_eq!(
        parse("a,b\n1,2\n".as_bytes(), Format::Csv, None),
        Err(FileError::NoHeader)
    );
    assert_eq!(
        parse("病院名,病院名\n".as_bytes(), Format::Csv, None),
        Err(FileError::DuplicateColumn("病院名".into()))
    );
    assert_eq!(
        parse(b"\x81", Format::Csv, None),
        Err(FileError::Undecodable(Encoding::ShiftJis))
    );
    assert!(matches!(
        parse(b"not a zip", Format::Xlsx, None),
        Err(FileError::BadXlsx(_))
    ));
    // Header only: a valid file with no rows.
    assert_eq!(
        parse(
            "都道府県,医療機関コード,病院名\n".as_bytes(),
            Format::Csv,
            None
        ),
        Ok(vec![])
    );
}

#[test]
fn format_and_encoding_names() {
    assert_eq!(detect_format(b"PK\x03\x04rest", None), Format::Xlsx);
    assert_eq!(detect_format(b"a,b", Some("list.csv")), Format::Csv);
    assert_eq!(detect_format(b"a,b", Some("LIST.XLSX")), Format::Xlsx);
    assert_eq!(detect_format(b"a,b", None), Format::Csv);
    assert_eq!(Encoding::parse("UTF-8"), Some(Encoding::Utf8));
    assert_eq!(Encoding::parse("utf8"), Some(Encoding::Utf8));
    for name in ["shift_jis", "Shift-JIS", "sjis", "cp932", "Windows-31J"] {
        assert_eq!(Encoding::parse(name), Some(Encoding::ShiftJis), "{name}");
    }
    assert_eq!(Encoding::parse("euc-jp"), None);
}

#[test]
fn example_list_parses_cleanly() {
    let bytes = include_bytes!("../../examples/selection-list.csv");
    let outcomes = parse(
        bytes,
        detect_format(bytes, Some("selection-list.csv")),
        None,
    )
    .unwrap();
    assert_eq!(outcomes.len(), 4);
    for outcome in &outcomes {
        assert!(outcome.result.is_ok(), "{outcome:?}");
    }
    let kumin = outcomes[1].result.as_ref().unwrap();
    assert_eq!(kumin.institution_code, "1310123458");
    let kinen = outcomes[2].result.as_ref().unwrap();
    assert_eq!(kinen.beds, Some(180));
    assert_eq!(kinen.contacts.len(), 3);
}

#[test]
fn rows_serialize_to_json() {
    let bytes = include_bytes!("../../examples/selection-list.csv");
    let outcomes = parse(bytes, Format::Csv, None).unwrap();
    let json = serde_json::to_value(&outcomes[0]).unwrap();
    assert_eq!(json["row"], 2);
    assert_eq!(json["result"]["Ok"]["emr_status"], "full");
}
