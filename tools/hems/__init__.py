"""``sumame hems``: a HEMS-side client for the B-route (IP and Wi-SUN), LV and HV."""
