"""COSEM interface classes served by :class:`sumame.firmware.net.dlms.server.CosemServer`:
Data/Register/Extended register (1/3/4), Profile generic (7), Clock (8), Association LN (15),
Push setup (40), Disconnect control (70), Limiter (71)."""
