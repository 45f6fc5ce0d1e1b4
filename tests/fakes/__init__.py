"""Maintained fakes of the services the bot talks to, served over real protocols."""
