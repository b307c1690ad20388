"""The head-end: sessions, engine, store, exports, updates, the MDMS and the joint-reading server."""
