//! Plain-text tables for the remote commands' listings.

/// Left-aligned columns separated by two spaces, without trailing whitespace.
pub(super) fn render_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header = header.map(str::to_owned);
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `-` for a missing value.
pub(super) fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_without_trailing_spaces() {
        let rows = [
            ["1".to_owned(), "a-long-cell".to_owned(), String::new()],
            ["22".to_owned(), "b".to_owned(), "x".to_owned()],
        ];
        assert_eq!(
            render_table(&["ID", "NAME", "LAST"], &rows),
            "ID  NAME         LAST\n1   a-long-cell\n22  b            x\n"
        );
    }
}
