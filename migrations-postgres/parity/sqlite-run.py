# Runs SQL from stdin on the SQLite database argv[1] with Python's sqlite3 module, one
# statement at a time, printing each result row as the sqlite3 shell's list mode does
# (columns joined by `|`, NULL as nothing). Foreign keys are on, as in orch (sqlx).
# A fallback for check-parity.sh when no sqlite3 shell new enough is at hand.
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute('PRAGMA foreign_keys = ON')
out = sys.stdout.buffer
buf = ''
for piece in sys.stdin.buffer.read().decode('utf-8').splitlines(keepends=True):
    buf += piece
    if sqlite3.complete_statement(buf):
        for row in con.execute(buf):
            out.write('|'.join('' if v is None else str(v) for v in row).encode('utf-8') + b'\n')
        buf = ''
if buf.strip():
    con.executescript(buf)
