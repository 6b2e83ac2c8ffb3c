-- The Decision 766 scored index is frozen at a period's close (and on demand) like the three
-- periodic reports, so that `as=submitted` has it too (docs/reporting.md, "Reports as submitted").
ALTER TABLE reporting.report_snapshots DROP CONSTRAINT report_snapshots_report_check;
ALTER TABLE reporting.report_snapshots ADD CONSTRAINT report_snapshots_report_check
    CHECK (report IN ('form06', 'qms-status', 'indicators', 'index766'));
