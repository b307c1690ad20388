"""B-route: the ECHONET Lite node the home side (HEMS, VPP controllers, PPA devices) reads.

Entry point for the application: ``BRouteService`` (service.py) builds the node, the home-side
guard and the transports from a ``MeterReadings``, an ``EventLog``, a scheduler and options.
"""
