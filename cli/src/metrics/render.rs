//! The report for people: a line with the window, a table of each function's series
//! (its sum or peak, and a sparkline of one character per period, newest on the
//! right), the traffic shifts under way, and notes.

use super::{duration_text, Report, Series, Summary, Unit, Window};
use crate::ui;

/// Eight heights, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// A period without data.
pub const GAP: char = '·';

/// One character per period, oldest on the left: each value a bar scaled between 0
/// (or the least value, when below 0) and the series' greatest; [`GAP`] for none.
pub fn sparkline(values: &[Option<f64>]) -> String {
    let present = values.iter().flatten().copied();
    let low = present.clone().fold(0.0_f64, f64::min);
    let high = present.fold(f64::MIN, f64::max);
    values
        .iter()
        .map(|v| match v {
            None => GAP,
            // Nothing above the floor: flat at the bottom.
            Some(_) if high <= low => BARS[0],
            Some(v) => {
                let level = ((v - low) / (high - low) * (BARS.len() - 1) as f64).round();
                BARS[(level.max(0.0) as usize).min(BARS.len() - 1)]
            }
        })
        .collect()
}

/// A series' value in each period of the window, oldest first.
pub fn slots(series: &Series, window: &Window) -> Vec<Option<f64>> {
    let n = window.points().max(0) as usize;
    let mut out: Vec<Option<f64>> = vec![None; n];
    let summed = matches!(series.summary, Some(Summary::Sum(_)));
    for p in &series.points {
        let i = (p.at - window.start).div_euclid(window.period.max(1));
        let Some(slot) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        *slot = Some(match *slot {
            None => p.value,
            Some(v) if summed => v + p.value,
            Some(v) => v.max(p.value),
        });
    }
    out
}

/// `7`, `0.25`, `12.5 ms`, `80%`.
pub fn value_text(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Count if (v - v.round()).abs() < 1e-9 => format!("{}", v.round() as i64),
        Unit::Count => format!("{v:.2}"),
        Unit::Milliseconds if v >= 100.0 => format!("{v:.0} ms"),
        Unit::Milliseconds if v >= 10.0 => format!("{v:.1} ms"),
        Unit::Milliseconds => format!("{v:.2} ms"),
        Unit::Percent => format!("{v:.0}%"),
    }
}

/// `sum 7`, `peak 310 ms`, `no data`, `n/a`.
pub fn summary_text(series: &Series) -> String {
    if series.unavailable.is_some() {
        return "n/a".into();
    }
    match series.summary {
        Some(Summary::Sum(v)) => format!("sum {}", value_text(v, series.unit)),
        Some(Summary::Peak(v)) => format!("peak {}", value_text(v, series.unit)),
        None => "no data".into(),
    }
}

pub fn render_human(report: &Report) -> String {
    let w = &report.window;
    let mut out = format!(
        "service {}, stage {}, region {}: {} to {}, a point per {} ({} points, newest on the right)\n",
        report.service,
        report.stage,
        report.region,
        report.start,
        report.end,
        duration_text(report.period),
        w.points(),
    );
    let mut rows = vec![["function", "series", "summary", "trend"].map(String::from)];
    let mut notes: Vec<String> = Vec::new();
    for f in &report.functions {
        let whole = |what: &str| {
            [
                f.name.clone(),
                what.to_string(),
                String::new(),
                String::new(),
            ]
        };
        if !f.deployed {
            rows.push(whole("not deployed"));
            continue;
        }
        // Nothing in any series it could read (the notes say which it could not).
        if f.no_data {
            rows.push(whole("no data"));
            continue;
        }
        for (i, s) in f.series.iter().enumerate() {
            let trend = if s.unavailable.is_some() || s.points.is_empty() {
                String::new()
            } else {
                sparkline(&slots(s, w))
            };
            rows.push([
                if i == 0 {
                    f.name.clone()
                } else {
                    String::new()
                },
                s.name.clone(),
                summary_text(s),
                trend,
            ]);
            if let Some(why) = &s.unavailable {
                if why != "not served by the emulator" {
                    notes.push(format!("{} {}: {why}", f.name, s.name));
                }
            }
        }
    }
    out.push_str(&ui::table(&rows));
    for f in &report.functions {
        if let Some(shift) = &f.shift {
            out.push_str(&format!(
                "{}: shifting, {}% of `live` on version {}, the rest on version {}\n",
                f.name, shift.percent, shift.to, shift.from
            ));
        }
    }
    for note in report.notes.iter().chain(&notes) {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{FunctionMetrics, Point, ShiftView};
    use super::*;

    #[test]
    fn a_sparkline_scales_each_series_from_zero_to_its_peak_with_gaps() {
        assert_eq!(
            sparkline(&[Some(0.0), Some(1.0), Some(2.0), Some(7.0)]),
            "▁▂▃█"
        );
        assert_eq!(sparkline(&[Some(5.0), None, Some(10.0)]), "▅·█");
        assert_eq!(sparkline(&[None, None]), "··");
        assert_eq!(sparkline(&[Some(0.0), Some(0.0)]), "▁▁");
        assert_eq!(sparkline(&[Some(3.0), Some(3.0)]), "██", "from zero");
        assert_eq!(sparkline(&[]), "");
        // Scaled per series: the same shape at any magnitude.
        assert_eq!(
            sparkline(&[Some(100.0), Some(700.0)]),
            sparkline(&[Some(1.0), Some(7.0)])
        );
    }

    fn series(points: &[(i64, f64)], summary: Option<Summary>, unit: Unit) -> Series {
        Series {
            name: "invocations".into(),
            metric: "Invocations".into(),
            stat: "Sum".into(),
            unit,
            version: None,
            points: points
                .iter()
                .map(|(at, value)| Point {
                    at: *at,
                    time: String::new(),
                    value: *value,
                })
                .collect(),
            summary,
            unavailable: None,
        }
    }

    #[test]
    fn each_period_of_the_window_is_a_slot_and_the_newest_is_last() {
        let w = Window {
            start: 600,
            end: 900,
            period: 60,
        };
        let s = series(
            &[(600, 1.0), (840, 4.0), (2000, 9.0)],
            Some(Summary::Sum(5.0)),
            Unit::Count,
        );
        assert_eq!(slots(&s, &w), vec![Some(1.0), None, None, None, Some(4.0)]);
        assert_eq!(sparkline(&slots(&s, &w)), "▃···█");
    }

    #[test]
    fn values_read_with_their_units() {
        assert_eq!(value_text(7.0, Unit::Count), "7");
        assert_eq!(value_text(0.25, Unit::Count), "0.25");
        assert_eq!(value_text(310.4, Unit::Milliseconds), "310 ms");
        assert_eq!(value_text(12.34, Unit::Milliseconds), "12.3 ms");
        assert_eq!(value_text(1.5, Unit::Milliseconds), "1.50 ms");
        assert_eq!(value_text(80.0, Unit::Percent), "80%");
        let mut s = series(&[], None, Unit::Count);
        assert_eq!(summary_text(&s), "no data");
        s.summary = Some(Summary::Peak(300.0));
        s.unit = Unit::Milliseconds;
        assert_eq!(summary_text(&s), "peak 300 ms");
        s.unavailable = Some("not served by the emulator".into());
        assert_eq!(summary_text(&s), "n/a");
    }

    #[test]
    fn the_table_lists_undeployed_and_quiet_functions_in_one_row_and_shifts_below() {
        let w = Window {
            start: 0,
            end: 180,
            period: 60,
        };
        let function = |name: &str, deployed: bool, series: Vec<Series>| FunctionMetrics {
            name: name.into(),
            physical_name: format!("shop-dev-{name}"),
            deployed,
            no_data: deployed && series.iter().all(|s| s.points.is_empty()),
            shift: None,
            series,
        };
        let mut api = function(
            "api",
            true,
            vec![series(
                &[(0, 3.0), (120, 4.0)],
                Some(Summary::Sum(7.0)),
                Unit::Count,
            )],
        );
        api.shift = Some(ShiftView {
            from: "2".into(),
            to: "3".into(),
            percent: 10,
        });
        let report = Report {
            service: "shop".into(),
            stage: "dev".into(),
            region: "eu-west-1".into(),
            start: "1970-01-01T00:00:00Z".into(),
            end: "1970-01-01T00:03:00Z".into(),
            period: 60,
            window: w,
            functions: vec![
                api,
                function("cron", false, vec![]),
                function("quiet", true, vec![series(&[], None, Unit::Count)]),
            ],
            notes: vec!["the emulator fails".into()],
        };
        let text = render_human(&report);
        assert!(text.starts_with("service shop, stage dev, region eu-west-1: 1970-01-01T00:00:00Z to 1970-01-01T00:03:00Z, a point per 1m (3 points"), "{text}");
        assert!(
            text.contains("api       invocations   sum 7    ▆·█"),
            "{text}"
        );
        assert!(text.contains("\ncron      not deployed\n"), "{text}");
        assert!(text.contains("\nquiet     no data\n"), "{text}");
        assert!(
            text.contains("api: shifting, 10% of `live` on version 3, the rest on version 2"),
            "{text}"
        );
        assert!(text.ends_with("note: the emulator fails\n"), "{text}");
    }
}
