"""DLMS/COSEM for the A-route: pure codecs (A-XDR, ACSE, xDLMS, security suite 0, HDLC,
wrapper), the COSEM server machinery (association, dispatch, interface classes in ``cosem``)
and the client-side helpers the head-end simulator uses (``client``).

No I/O and no clocks: time is passed in. See ``shared/reference/dlms-cosem.md`` for the facts.
"""
