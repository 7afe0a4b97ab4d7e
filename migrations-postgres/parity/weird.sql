-- One text with everything JSON escaping must get right, written with char(N) (SQLite;
-- check-parity.sh turns it into chr(N) for PostgreSQL): quotes, backslash, slash,
-- apostrophe, tab, newline, CR, backspace, form feed, other control characters, DEL,
-- U+2028, non-ASCII and astral characters.
CREATE TEMP TABLE weird AS SELECT
    'He said "hi" \ back\\slash / it''s' || char(10) || 'line 2' || char(9) || 'tab'
    || char(13) || char(8) || char(12) || char(1) || char(31) || char(127)
    || ' é ü 中文 😀 ' || char(8232) || char(8233) || ' end' AS w;
