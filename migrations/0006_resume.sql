-- A parked task's next attempt resumes the agent's session where its adapter can: the
-- session to resume is recorded on that attempt.
ALTER TABLE attempts ADD COLUMN resume_session TEXT NOT NULL DEFAULT '';
