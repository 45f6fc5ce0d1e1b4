"""The conversation core: scope -> retrieve -> answer -> record, and the settings it runs on."""
