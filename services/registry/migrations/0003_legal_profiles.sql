-- Legal profiles (issue #17): the law a dossier is judged by (time zone, holidays, roll-over,
-- office hours, cut-off, clock stop, rule codes), versioned like ISO processes. One more entity
-- kind of registry.entities, entity id '<code>|<version>'; procedures and agencies name theirs in
-- their own record (data->>'legal_profile'). No row is seeded: without profiles, processing judges
-- by the built-in Vietnamese default made from the settings (TTHC_TIMEZONE, TTHC_OFFICE_HOURS, …).
ALTER TABLE registry.entities DROP CONSTRAINT entities_entity_check;
ALTER TABLE registry.entities ADD CONSTRAINT entities_entity_check CHECK (entity IN
    ('procedure', 'agency', 'qms', 'iso_process', 'calendar_override', 'api_token', 'legal_profile'));
CREATE INDEX entities_legal_profile_code ON registry.entities ((data ->> 'code'))
    WHERE entity = 'legal_profile';
