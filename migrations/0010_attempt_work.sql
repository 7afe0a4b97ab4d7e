-- What an attempt left behind, recorded when it ends (issue 10): for a code attempt,
-- the commits on its branch and, when the worker left changes uncommitted, the commit
-- the supervisor made of them; for every attempt, the tool calls its CLI refused to run.
-- JSON: {"commits": N, "autocommit": {"commit": SHA, "files": N} | null,
--        "permission_denials": ["Bash: git push", ...]}; '{}' until the attempt ends.

ALTER TABLE attempts ADD COLUMN work_json TEXT NOT NULL DEFAULT '{}';
