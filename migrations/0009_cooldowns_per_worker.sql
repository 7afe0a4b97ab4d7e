-- Cooldowns per account, not per CLI (issue 10): a rate limit belongs to the account a
-- worker profile runs on, so profiles `codex-a` and `codex-b` of adapter `codex` cool
-- down apart. The key (`policy::cooldown_key`) is the worker profile's name, or the
-- adapter's name when the attempt ran on a bare adapter (no profile); it is the name the
-- attempt was assigned to. The column is renamed to say so.
--
-- Rows written before this migration hold adapter names; they now read as the cooldown
-- of that bare adapter (no longer of its profiles) and expire at their time as before.

ALTER TABLE cooldowns RENAME COLUMN adapter TO worker;
