"""External-connection security (issue 11 §4): every frame between the meter and an external
device (IoT terminals, B-route peers over IP and Wi-SUN) logged, anomalies alarmed, one device
cut off / reconnected by the head-end. ``service.ExternalSecurity`` is the entry point."""
