-- The machine each host's `orch up` runs on (`/proc/sys/kernel/random/boot_id`, or
-- `$ORCH_MACHINE_ID`): host names must be unique among the machines sharing a database,
-- since pids are checked on the host that recorded them, and a second machine's `orch
-- up` under a name a live one holds is refused rather than let to take that host's
-- place. `''` for a registration made before this migration (never refused for it).
ALTER TABLE run_hosts ADD COLUMN machine TEXT NOT NULL DEFAULT '';
