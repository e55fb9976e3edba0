"""Test harness shared by tests/ and bench/: app processes, clients, stand-ins of Google and OpenAI, browsers."""
