"""MDMS data provision: the head-end store over HTTP (``sumame hes serve``) with API keys,
consent, audit, rate limits, bulk export jobs and a web portal. FastAPI and uvicorn come with
the optional extra ``sumame[api]``; only ``ids`` and ``access`` work without it."""
