"""sumame.firmware.routes: A-route, B-route and IoT-route applications."""
