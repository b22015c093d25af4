//! PDFs of ClinicPay's reports: A4, Helvetica (built into every PDF reader, so nothing is embedded),
//! lines of text on as many pages as it takes. It knows nothing of the reports themselves: each report
//! lays out its own lines (the escalation report in `desk::escalation`, the gateway report in `reports`).

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

pub(crate) const PAGE_W: f32 = 595.0;
pub(crate) const PAGE_H: f32 = 842.0;
pub(crate) const MARGIN: f32 = 50.0;
pub(crate) const BODY: f32 = 10.0;
pub(crate) const LEADING: f32 = 14.0;
/// Helvetica at 10 pt averages about 5 pt a character: 495 pt of line is about 95 characters.
pub(crate) const WRAP: usize = 92;

/// One line as it is drawn.
pub(crate) struct Line {
    pub(crate) text: String,
    pub(crate) bold: bool,
    pub(crate) size: f32,
    pub(crate) indent: f32,
}

pub(crate) fn heading(text: &str, size: f32) -> Line {
    Line {
        text: text.into(),
        bold: true,
        size,
        indent: 0.0,
    }
}

pub(crate) fn body(text: &str, indent: f32) -> Line {
    Line {
        text: text.into(),
        bold: false,
        size: BODY,
        indent,
    }
}

/// Lays `lines` out on A4 pages with page numbers.
pub(crate) fn render(title: &str, lines: &[Line]) -> Vec<u8> {
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

pub(crate) fn blank() -> Line {
    Line {
        text: String::new(),
        bold: false,
        size: BODY,
        indent: 0.0,
    }
}

/// Splits at spaces so no line is longer than `width` characters (a longer word is cut).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
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
