"""Historical replay: XES and CSV event logs → dossier events on Kafka (``tthc replay``).

``domain/`` holds the mapping file's model and the pure case → events translation;
``adapters/`` the streaming log readers, the Kafka producer and the registry client;
``replay.py`` wires them. The mapping format is documented in docs/replay.md.
"""
