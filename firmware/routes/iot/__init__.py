"""The IoT route (third route): gas/water joint reading over Wi-SUN Enhanced HAN.

The application layer above UDP here is **our own design** ("sumame IoT-route application",
``codec.py``): the real "IoTルートApplication仕様書" is not public (distributed by JUTA on
request, reference/iot-route.md §0). It is kept behind one codec module so it can be swapped.
"""
