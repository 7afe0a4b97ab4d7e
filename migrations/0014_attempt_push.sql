-- Where a code attempt's branch went (issue 13, code on many hosts). With pushing on
-- (`[remote]` in .orch/config.toml), dispatch records the remote and branch (`pending`);
-- when the attempt ends, its supervisor pushes the branch and records what happened:
-- `pushed` with the commit now on the remote, `failed` with git's words, or
-- `no_commits` when the branch held nothing new. No row: pushing was off.

CREATE TABLE attempt_pushes (
    attempt        INTEGER PRIMARY KEY NOT NULL REFERENCES attempts(id),
    remote         TEXT NOT NULL,
    branch         TEXT NOT NULL,
    state          TEXT NOT NULL,
    pushed_commit  TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT '',
    updated_at     INTEGER NOT NULL
) STRICT;
