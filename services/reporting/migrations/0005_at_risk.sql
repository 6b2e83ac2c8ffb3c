-- At-risk warning (dự báo trễ hạn, issue #17): the compliance message carries at_risk_since; the
-- open dossiers warned (still within their time limit) are listed and counted per agency.
CREATE INDEX facts_open_at_risk ON reporting.dossier_facts (agency_code, due_at)
    WHERE outcome = 'pending_within' AND (assessment ->> 'at_risk_since') IS NOT NULL;
