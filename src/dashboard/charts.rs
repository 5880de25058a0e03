//! The charts, drawn on the server as small hand-written SVG: no script, no external file, and
//! they print as sharply as the text around them.

use std::fmt::Write;

use crate::domain::flow::StageCounts;
use crate::domain::pipeline::Stage;
use crate::service::dashboard::stage_ja;
use crate::service::dashboard::summary::{Counts, PrefectureRow};
use crate::service::dashboard::trend::TrendPoint;

/// One colour per stage (selected → completed), then the side states.
pub const STAGE_COLOURS: [&str; 9] = [
    "#c9d3df", "#9fb8d6", "#7aa3d1", "#5b8ec8", "#3f78b9", "#2d64a3", "#1f518b", "#163f70",
    "#1a7f37",
];
const SIDE_COLOUR: &str = "#b8860b";

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where each prefecture sits on the tile map (column, row), by JIS code order.
const TILES: [(u8, u8); 47] = [
    (11, 0),
    (11, 1),
    (11, 2),
    (11, 3),
    (10, 2),
    (10, 3),
    (10, 4),
    (10, 5),
    (9, 4),
    (8, 4),
    (8, 5),
    (9, 6),
    (9, 5),
    (8, 6),
    (9, 3),
    (8, 3),
    (7, 3),
    (5, 4),
    (7, 5),
    (7, 4),
    (6, 4),
    (7, 6),
    (6, 5),
    (6, 6),
    (5, 5),
    (4, 4),
    (4, 5),
    (3, 4),
    (5, 6),
    (4, 6),
    (2, 4),
    (1, 4),
    (3, 5),
    (2, 5),
    (1, 5),
    (3, 7),
    (3, 6),
    (2, 6),
    (2, 7),
    (0, 6),
    (0, 7),
    (0, 8),
    (1, 7),
    (1, 6),
    (1, 8),
    (1, 9),
    (0, 9),
];

/// A blend from pale to the header's blue by completion rate.
fn rate_colour(rate: Option<f64>) -> (String, &'static str) {
    let Some(r) = rate else {
        return ("#eeeeee".into(), "#59636e");
    };
    let r = r.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * r).round() as u8;
    let fill = format!(
        "#{:02x}{:02x}{:02x}",
        mix(232.0, 29.0),
        mix(240.0, 79.0),
        mix(250.0, 145.0)
    );
    (fill, if r > 0.45 { "#ffffff" } else { "#1f2328" })
}

/// The 47 prefectures as tiles coloured by completion rate.
pub fn tile_map(rows: &[PrefectureRow]) -> String {
    let (w, h, size) = (12.0 * 48.0, 10.0 * 48.0, 46.0);
    let mut svg = format!(
        "<svg class=\"chart map\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"都道府県別の完了率\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for row in rows {
        let Some(i) = row
            .code
            .parse::<usize>()
            .ok()
            .and_then(|c| c.checked_sub(1))
        else {
            continue;
        };
        let Some(&(col, line)) = TILES.get(i) else {
            continue;
        };
        let (x, y) = (col as f64 * 48.0, line as f64 * 48.0);
        let (fill, ink) = rate_colour(row.counts.completion_rate);
        let short: String = row
            .name
            .trim_end_matches(['都', '府', '県'])
            .chars()
            .take(3)
            .collect();
        let pct = row
            .counts
            .completion_rate
            .map(|r| format!("{:.0}%", r * 100.0))
            .unwrap_or_else(|| "—".into());
        let _ = write!(
            svg,
            "<g data-prefecture=\"{code}\"><title>{name} 完了率 {pct}（選定 {sel}）</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{size}\" height=\"{size}\" rx=\"4\" fill=\"{fill}\"/>\
             <text x=\"{tx}\" y=\"{ty1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"{ink}\">{short}</text>\
             <text x=\"{tx}\" y=\"{ty2}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{ink}\">{pct}</text></g>",
            code = escape(&row.code),
            name = escape(&row.name),
            sel = row.counts.selected,
            tx = x + size / 2.0,
            ty1 = y + 20.0,
            ty2 = y + 36.0,
            short = escape(&short),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one per label, split by current stage (and side states at the end).
pub fn stacked_bars(rows: &[(String, Counts)]) -> String {
    let label_w = 84.0;
    let bar_h = 14.0;
    let gap = 4.0;
    let width = 640.0;
    let top = 8.0;
    let max = rows
        .iter()
        .map(|(_, c)| c.selected)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let height = top + rows.len() as f64 * (bar_h + gap) + 4.0;
    let scale = (width - label_w - 48.0) / max;
    let mut svg = format!(
        "<svg class=\"chart bars\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"段階別の内訳\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, (label, c)) in rows.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let _ = write!(
            svg,
            "<text x=\"{lx}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"end\">{label}</text>",
            lx = label_w - 6.0,
            ty = y + bar_h - 3.0,
            label = escape(label),
        );
        let mut x = label_w;
        let side = c.declined + c.withdrawn + c.on_hold;
        let parts = Stage::ALL
            .into_iter()
            .map(|s| (c.stages.get(s), STAGE_COLOURS[s as usize], stage_ja(s)))
            .chain([(side, SIDE_COLOUR, "辞退・取り下げ・保留")]);
        for (n, colour, name) in parts {
            if n == 0 {
                continue;
            }
            let w = n as f64 * scale;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar_h}\" fill=\"{colour}\">\
                 <title>{label} {name} {n}</title></rect>",
                label = escape(label),
            );
            x += w;
        }
        let _ = write!(
            svg,
            "<text x=\"{tx:.1}\" y=\"{ty}\" font-size=\"11\">{n}</text>",
            tx = x + 4.0,
            ty = y + bar_h - 3.0,
            n = c.selected,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The cumulative flow: stacked bands of how many stood at each stage at the end of each week.
pub fn cumulative_flow(points: &[TrendPoint]) -> String {
    let (width, height) = (640.0, 260.0);
    let (left, bottom, top, right) = (44.0, 28.0, 10.0, 10.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let max = points
        .iter()
        .map(|p| p.reached.selected)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = points.len().max(2) as f64 - 1.0;
    let x = |i: usize| left + plot_w * i as f64 / n;
    let y = |v: i64| top + plot_h - plot_h * v as f64 / max;
    let mut svg = format!(
        "<svg class=\"chart flow\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"週ごとの累積進捗\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for k in 0..=4 {
        let v = (max * k as f64 / 4.0).round() as i64;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#d0d7de\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" font-size=\"10\" text-anchor=\"end\">{v}</text>",
            x2 = width - right,
            yy = y(v),
            tx = left - 4.0,
            ty = y(v) + 3.0,
        );
    }
    if points.len() >= 2 {
        // Bands from `completed` at the bottom up to `selected` at the top.
        for s in Stage::ALL.into_iter().rev() {
            let upper: Vec<(f64, f64)> = points
                .iter()
                .enumerate()
                .map(|(i, p)| (x(i), y(p.reached.get(s))))
                .collect();
            let lower: Vec<(f64, f64)> = points
                .iter()
                .enumerate()
                .rev()
                .map(|(i, p)| (x(i), y(next_reached(&p.reached, s))))
                .collect();
            let path: Vec<String> = upper
                .iter()
                .chain(lower.iter())
                .map(|(a, b)| format!("{a:.1},{b:.1}"))
                .collect();
            let _ = write!(
                svg,
                "<polygon points=\"{}\" fill=\"{}\"><title>{}</title></polygon>",
                path.join(" "),
                STAGE_COLOURS[s as usize],
                stage_ja(s)
            );
        }
    }
    let every = (points.len() / 6).max(1);
    for (i, p) in points.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            svg,
            "<text x=\"{tx:.1}\" y=\"{ty}\" font-size=\"10\" text-anchor=\"middle\">{d}</text>",
            tx = x(i),
            ty = height - 10.0,
            d = p.week_start.format("%-m/%-d"),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// How many had reached the stage after `s` (none after `completed`).
fn next_reached(r: &StageCounts, s: Stage) -> i64 {
    match Stage::ALL.get(s as usize + 1) {
        Some(next) => r.get(*next),
        None => 0,
    }
}

/// The legend shared by the bar and flow charts.
pub fn legend() -> String {
    let mut html = String::from("<ul class=\"legend\">");
    for s in Stage::ALL {
        let _ = write!(
            html,
            "<li><span style=\"background:{}\"></span>{}</li>",
            STAGE_COLOURS[s as usize],
            stage_ja(s)
        );
    }
    let _ = write!(
        html,
        "<li><span style=\"background:{SIDE_COLOUR}\"></span>辞退・取り下げ・保留</li></ul>"
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_do_not_overlap() {
        let mut seen = std::collections::HashSet::new();
        for t in TILES {
            assert!(seen.insert(t), "{t:?} twice");
        }
    }

    #[test]
    fn charts_are_svg_without_scripts() {
        let rows = vec![(
            "東京都".to_owned(),
            Counts {
                selected: 3,
                ..Default::default()
            },
        )];
        let svg = stacked_bars(&rows);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("<script"));
        assert!(escape("<a&\"").eq("&lt;a&amp;&quot;"));
    }
}
