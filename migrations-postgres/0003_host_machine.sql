-- Twin of migrations/0016_host_machine.sql: the machine each host's `orch up` runs on.
ALTER TABLE run_hosts ADD COLUMN machine TEXT NOT NULL DEFAULT '';
