"""``tthc simulate``: a seeded province's live stream of dossier events, with its ground truth."""
