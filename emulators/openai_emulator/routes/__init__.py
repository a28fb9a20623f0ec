"""The emulator's routes, one module per OpenAI resource plus the `/_emulator` controls."""
