"""The head-end's store: SQLite by default, PostgreSQL by option; key store, value rows, exports."""
