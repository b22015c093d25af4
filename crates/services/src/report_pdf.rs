//! The escalation report as a PDF: A4, Helvetica (built into every PDF reader, so nothing is embedded),
//! the details as labelled lines and the checks below, on as many pages as it takes.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::desk::{CheckLevel, EscalationReport};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const BODY: f32 = 10.0;
const LEADING: f32 = 14.0;
/// Helvetica at 10 pt averages about 5 pt a character: 495 pt of line is about 95 characters.
const WRAP: usize = 92;

/// One line as it is drawn.
struct Line {
    text: String,
    bold: bool,
    size: f32,
    indent: f32,
}

/// The PDF bytes of the report.
pub fn escalation_pdf(report: &EscalationReport) -> Vec<u8> {
    let mut lines = vec![Line {
        text: report.title.clone(),
        bold: true,
        size: 15.0,
        indent: 0.0,
    }];
    lines.push(blank());
    for d in &report.details {
        for (i, part) in wrap(&format!("{}: {}", d.label, d.value), WRAP)
            .into_iter()
            .enumerate()
        {
            lines.push(Line {
                text: part,
                bold: false,
                size: BODY,
                indent: if i == 0 { 0.0 } else { 12.0 },
            });
        }
    }
    lines.push(blank());
    lines.push(Line {
        text: "What to check".into(),
        bold: true,
        size: 12.0,
        indent: 0.0,
    });
    for c in &report.checks {
        let mark = match c.level {
            CheckLevel::Ok => "OK",
            CheckLevel::Attention => "CHECK",
            CheckLevel::ActionNeeded => "ACTION",
        };
        let mut text = format!("[{mark}] {}: {}", c.name, c.finding);
        if let Some(next) = &c.next_step {
            text.push_str(&format!(" Next: {next}"));
        }
        for (i, part) in wrap(&text, WRAP).into_iter().enumerate() {
            lines.push(Line {
                text: part,
                bold: i == 0 && c.level == CheckLevel::ActionNeeded,
                size: BODY,
                indent: if i == 0 { 0.0 } else { 12.0 },
            });
        }
    }

    render(&report.title, &lines)
}

/// The gateway report as a PDF: the figures per gateway and currency, the declines, the recovery funnel.
pub fn gateway_report_pdf(report: &crate::reports::GatewayReport) -> Vec<u8> {
    let title = format!("ClinicPay gateway report, {} to {}", report.from, report.to);
    let mut lines = vec![heading(&title, 15.0), blank()];
    for g in &report.gateways {
        lines.push(heading(&format!("{} ({})", g.gateway, g.currency), 12.0));
        for text in [
            format!("Payments attempted: {}", g.attempts),
            format!("Succeeded: {} for {}", g.succeeded, g.succeeded_amount),
            format!("Failed: {}", g.failed),
            format!(
                "Success rate: {}",
                g.success_rate_percent
                    .map(|r| format!("{r:.1} %"))
                    .unwrap_or_else(|| "no settled payments".into())
            ),
            format!(
                "Unknown outcomes waiting for the janitor: {}",
                g.unknown_waiting
            ),
            format!(
                "Refunds: {} for {} ({} failed)",
                g.refunds, g.refunded_amount, g.refunds_failed
            ),
        ] {
            lines.push(body(&text, 0.0));
        }
        if !g.declines.is_empty() {
            lines.push(body("Declines by code:", 0.0));
            for d in &g.declines {
                for (i, part) in wrap(
                    &format!(
                        "{} x {}: {}",
                        d.count,
                        d.code.as_deref().unwrap_or("no code"),
                        d.message.as_deref().unwrap_or("no message")
                    ),
                    WRAP - 4,
                )
                .into_iter()
                .enumerate()
                {
                    lines.push(body(&part, if i == 0 { 12.0 } else { 24.0 }));
                }
            }
        }
        lines.push(blank());
    }
    let r = &report.recovery;
    lines.push(heading(
        "Recovery funnel (recoveries that began in the range)",
        12.0,
    ));
    for text in [
        format!("Needs payment method: {}", r.needs_payment_method),
        format!("Retry scheduled: {}", r.retry_scheduled),
        format!("Resolved: {}", r.resolved),
        format!("Failed final: {}", r.failed_final),
    ] {
        lines.push(body(&text, 0.0));
    }
    render(&title, &lines)
}

fn heading(text: &str, size: f32) -> Line {
    Line {
        text: text.into(),
        bold: true,
        size,
        indent: 0.0,
    }
}

fn body(text: &str, indent: f32) -> Line {
    Line {
        text: text.into(),
        bold: false,
        size: BODY,
        indent,
    }
}

/// Lays `lines` out on A4 pages with page numbers.
fn render(title: &str, lines: &[Line]) -> Vec<u8> {
    let per_page = ((PAGE_H - 2.0 * MARGIN) / LEADING) as usize;
    let pages: Vec<&[Line]> = lines.chunks(per_page.max(1)).collect();
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|i| Ref::new(first_page + 2 * i as i32))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    pdf.document_info(info)
        .title(TextStr(title))
        .creator(TextStr("ClinicPay"));
    for (font, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(font)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (i, page_lines) in pages.iter().enumerate() {
        let page_id = page_ids[i];
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(content_id);
        page.resources()
            .fonts()
            .pair(Name(b"F1"), regular)
            .pair(Name(b"F2"), bold);
        page.finish();

        let mut content = Content::new();
        let mut y = PAGE_H - MARGIN;
        for line in page_lines.iter() {
            if !line.text.is_empty() {
                content.begin_text();
                content.set_font(Name(if line.bold { b"F2" } else { b"F1" }), line.size);
                content.next_line(MARGIN + line.indent, y);
                content.show(Str(&win_ansi(&line.text)));
                content.end_text();
            }
            y -= LEADING;
        }
        // Page numbers, so a printed report's pages stay in order.
        content.begin_text();
        content.set_font(Name(b"F1"), 8.0);
        content.next_line(MARGIN, MARGIN / 2.0);
        content.show(Str(format!("Page {} of {}", i + 1, pages.len()).as_bytes()));
        content.end_text();
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}

/// Writes the report's PDF to `file`, or says what went wrong and what to do.
pub fn write_pdf(report: &EscalationReport, file: &std::path::Path) -> crate::Result<()> {
    std::fs::write(file, escalation_pdf(report)).map_err(|e| {
        crate::ServiceError::Invalid(format!(
            "The PDF could not be written to {} ({e}): choose a folder you can write to.",
            file.display()
        ))
    })
}

fn blank() -> Line {
    Line {
        text: String::new(),
        bold: false,
        size: BODY,
        indent: 0.0,
    }
}

/// Splits at spaces so no line is longer than `width` characters (a longer word is cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_owned();
        while word.chars().count() > width {
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            out.push(head);
        }
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// The text in WinAnsiEncoding, which the built-in fonts read: Latin-1 as is, a few typographic
/// characters at their Windows-1252 places, anything else as "?".
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => c as u8,
            '€' => 0x80,
            '…' => 0x85,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            _ => b'?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_at_spaces_and_long_words_are_cut() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("", 10), [""]);
    }

    #[test]
    fn card_bullets_and_accents_survive_in_the_pdfs_encoding() {
        assert_eq!(win_ansi("Visa ••4242 José"), b"Visa \x95\x954242 Jos\xe9");
        assert_eq!(win_ansi("日"), b"?");
    }
}
